/**
 * debug-style logging: `logger('gtfs:store:object-store')` returns a function
 * that prints only when DEBUG matches the namespace (DEBUG=gtfs:* for all).
 * `enabled` is computed once, so a disabled logger costs one branch on a hot path.
 * `warn` always prints: warnings are rare and are for the user.
 */
import { format } from 'node:util'

function matches (ns: string, spec: string): boolean {
  let on = false
  for (const part of spec.split(/[\s,]+/).filter(Boolean)) {
    const neg = part.startsWith('-')
    const pat = new RegExp('^' + (neg ? part.slice(1) : part).replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*') + '$')
    if (pat.test(ns)) on = !neg
  }
  return on
}

export interface Logger {
  (fmt: string, ...args: unknown[]): void
  readonly enabled: boolean
  readonly namespace: string
}

export function logger (namespace: string): Logger {
  const enabled = matches(namespace, process.env.DEBUG ?? '')
  const fn = ((fmt: string, ...args: unknown[]) => {
    if (enabled) process.stderr.write(`${new Date().toISOString()} ${namespace} ${format(fmt, ...args)}\n`)
  }) as Logger
  Object.defineProperty(fn, 'enabled', { value: enabled })
  Object.defineProperty(fn, 'namespace', { value: namespace })
  return fn
}

export type WarnSink = (message: string) => void

/** Where warnings go; the mount process points this at its log, tests capture it. */
let sink: WarnSink = (message) => { process.stderr.write(`gtfs: warning: ${message}\n`) }

export function setWarnSink (s: WarnSink): void { sink = s }

export function warn (message: string): void { sink(message) }

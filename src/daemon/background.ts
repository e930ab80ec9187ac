/**
 * Starting a detached gtfs process (the daemon) and waiting until it is ready,
 * as sshfs returns once its mount is. The child reports over an IPC channel:
 * ready, or the error that stopped it; then both let go of the channel.
 */
import { spawn } from 'node:child_process'
import { mkdir, open } from 'node:fs/promises'
import { dirname } from 'node:path'
import { EnvironmentError, GtfsError, TimeoutError } from '../errors.ts'

export type ReadyMessage =
  | { gtfs: 'ready', pid: number }
  | { gtfs: 'error', code: string, message: string, hint?: string }

/** In the child: tells the waiting parent how the mount went, then lets go of it. */
export function reportToParent (msg: ReadyMessage): void {
  if (process.send === undefined) return
  process.send(msg, () => { process.disconnect?.() })
}

export interface SpawnOptions {
  /** argv for the child after the node executable, e.g. [bin, 'mount', ..., '-f'] */
  args: string[]
  logFile: string
  timeoutMs: number
  env?: NodeJS.ProcessEnv
}

export async function spawnBackground (o: SpawnOptions): Promise<Extract<ReadyMessage, { gtfs: 'ready' }>> {
  await mkdir(dirname(o.logFile), { recursive: true })
  const log = await open(o.logFile, 'a', 0o600)
  try {
    const child = spawn(process.execPath, [...process.execArgv, ...o.args], {
      detached: true,
      stdio: ['ignore', log.fd, log.fd, 'ipc'],
      env: { ...(o.env ?? process.env), GTFS_BACKGROUND: '1', GTFS_LOG_FILE: o.logFile }
    })
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGTERM')
        reject(new TimeoutError(`the mount was not ready within ${o.timeoutMs} ms`, { hint: `see ${o.logFile}` }))
      }, o.timeoutMs)
      child.once('message', (m: ReadyMessage) => {
        clearTimeout(timer)
        if (m.gtfs === 'ready') {
          child.unref()
          child.disconnect?.()
          resolve(m)
        } else {
          reject(new GtfsError(m.code, m.message, { hint: m.hint }))
        }
      })
      child.once('exit', (code, signal) => {
        clearTimeout(timer)
        reject(new EnvironmentError('EMOUNT', `the mount process exited (${signal ?? `code ${code}`}) before the mount was ready`, { hint: `see ${o.logFile}` }))
      })
      child.once('error', err => {
        clearTimeout(timer)
        reject(new EnvironmentError('EMOUNT', `could not start the mount process: ${err.message}`))
      })
    })
  } finally {
    await log.close()
  }
}

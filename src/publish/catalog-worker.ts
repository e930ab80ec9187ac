/**
 * Catalogs checked off the main thread, behind a mount that already uses them
 * (git/catalog-sizes.ts says why and what that means). The worker starts on
 * the first check and stops after IDLE_MS without work, so an idle daemon
 * holds no isolate for it. Where it cannot run (the sources run without
 * tsx's loader in the thread, a crash, CALL_MS) a check fails with an error
 * that is not a refusal, and the caller checks on its own thread.
 */
import { randomInt } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { ProtocolError } from '../errors.ts'
import type { PackedTables } from '../git/catalog-packed.ts'

/** ms the worker stays without work before it stops */
const IDLE_MS = 10_000
/** ms one check may take before the caller checks on its own thread (a 64 MiB catalog takes a few seconds) */
const CALL_MS = 30_000

/**
 * The thread's module, compiled: dist/publish/. In the daemon's bundle
 * (dist/bundle/), import.meta.url is the bundle's, two levels below the root
 * as this module's is, so the same relative path names it. Run from the
 * sources (tsx), there is none: tsx's loader does not reach a worker's entry,
 * so the check runs on the caller's thread.
 */
const THREAD = import.meta.url.endsWith('.ts') ? null : new URL('../publish/catalog-worker-thread.js', import.meta.url)

interface Answer { id: number, error?: string, refused?: string, code?: string, tables?: PackedTables }

let worker: Worker | null = null
let idle: NodeJS.Timeout | undefined
let nextId = 0
/** a per-process seed for the packed tables' hash */
const seed = randomInt(2 ** 31)
const waiting = new Map<number, { resolve: (m: Answer) => void, reject: (err: Error) => void }>()

function start (thread: URL): Worker {
  const w = new Worker(thread, { resourceLimits: { maxOldGenerationSizeMb: 512 } })
  w.unref()
  w.on('message', (m: Answer) => {
    const p = waiting.get(m.id)
    if (p === undefined) return
    waiting.delete(m.id)
    settled(w)
    if (m.refused !== undefined) p.reject(new ProtocolError(m.code ?? 'EMALFORMED', m.refused, { cause: REFUSED }))
    else if (m.error !== undefined) p.reject(new Error(m.error))
    else p.resolve(m)
  })
  const fail = (err: Error): void => {
    if (worker === w) worker = null
    for (const p of waiting.values()) p.reject(err)
    waiting.clear()
  }
  w.on('error', fail)
  w.on('exit', code => { fail(new Error(`catalog worker exited (${code})`)) })
  worker = w
  settled(w)
  return w
}

/** After a call settles: unreferenced when none is open, stopped after IDLE_MS of that. */
function settled (w: Worker): void {
  clearTimeout(idle)
  if (waiting.size > 0) return
  w.unref()
  idle = setTimeout(() => {
    if (worker === w && waiting.size === 0) {
      worker = null
      void w.terminate()
    }
  }, IDLE_MS)
  idle.unref()
}

/** the `cause` of a check's refusal (isRefusal) */
const REFUSED = Symbol('refused')

/** Whether `err` is the check's refusal of the catalog (not a failure to check it). */
export function isRefusal (err: unknown): boolean {
  return err instanceof ProtocolError && err.cause === REFUSED
}

/**
 * `bytes` checked as decodeCatalog checks them, on the worker, and a sizes
 * catalog's entries packed over the text decoded from them (`seed` for
 * their hash). Rejects with the refusal (isRefusal), or with another error
 * where the worker cannot answer.
 */
export async function checkCatalogOffThread (bytes: Uint8Array): Promise<PackedTables> {
  if (THREAD === null) throw new Error('no compiled catalog worker (the sources run)')
  const w = worker ?? start(THREAD)
  clearTimeout(idle)
  const id = nextId++
  const m = await new Promise<Answer>((resolve, reject) => {
    const timer = setTimeout(() => {
      if (waiting.delete(id)) reject(new Error(`no answer in ${CALL_MS} ms`))
      settled(w)
    }, CALL_MS)
    timer.unref()
    waiting.set(id, {
      resolve: m => { clearTimeout(timer); resolve(m) },
      reject: err => { clearTimeout(timer); reject(err) }
    })
    w.ref()
    w.postMessage({ id, bytes, seed })
  })
  return m.tables!
}

/** the seed the worker's tables hash with, for tables packed on this thread */
export const packSeed = seed

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
import { WorkerCalls } from '../worker-calls.ts'

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

/** the `cause` of a check's refusal (isRefusal) */
const REFUSED = Symbol('refused')

/** Whether `err` is the check's refusal of the catalog (not a failure to check it). */
export function isRefusal (err: unknown): boolean {
  return err instanceof ProtocolError && err.cause === REFUSED
}

interface Answer { id: number, error?: string, refused?: string, code?: string, tables?: PackedTables }

const worker = THREAD === null
  ? null
  : new WorkerCalls<Answer>({
    name: 'catalog worker',
    spawn: () => new Worker(THREAD, { resourceLimits: { maxOldGenerationSizeMb: 512 } }),
    failure: m => m.refused !== undefined ? new ProtocolError(m.code ?? 'EMALFORMED', m.refused, { cause: REFUSED }) : m.error !== undefined ? new Error(m.error) : null,
    idleMs: IDLE_MS
  })

/** the per-process seed of the packed tables' hash, the worker's and any packed on this thread alike */
export const packSeed = randomInt(2 ** 31)

/**
 * `bytes` checked as decodeCatalog checks them, on the worker, and a sizes
 * catalog's entries packed over the text decoded from them (hashed with
 * packSeed). Rejects with the refusal (isRefusal), or with another error
 * where the worker cannot answer.
 */
export async function checkCatalogOffThread (bytes: Uint8Array): Promise<PackedTables> {
  if (worker === null) throw new Error('no compiled catalog worker (the sources run)')
  return (await worker.call({ bytes, seed: packSeed }, [], CALL_MS)).tables!
}

/**
 * Fetches objects from a swarm into a sink: batched, spread over peers,
 * retried elsewhere, single-flight.
 *
 * - `fetch(ids)` resolves once every id has been received from some peer,
 *   hash-checked (Peer does that before anything else sees the bytes) and
 *   written to the sink. With `depth`, the closure under each tree comes along
 *   in the same round trips and is written too, before the call resolves.
 * - Ids are cut into batches (`batchSize`, at most the peer's cap) and each
 *   batch goes to the peer PeerPool.pick rates best (throughput per open
 *   request) among those with a free request slot; the rest wait for a slot,
 *   so a faster peer, which frees slots sooner, takes more of the work.
 * - An id that a peer says it does not have, or whose batch timed out or
 *   failed, goes to another peer that has not been tried for it. A peer fault
 *   (bad hash, cap) drops and bans the peer (Peer + PeerPool); the batch's
 *   unfinished ids go elsewhere.
 * - Gives up on an id when every ready peer has been tried and none is still
 *   connecting: ENOTFOUND when all of them said they do not have it, else the
 *   last error. With no peer at all it waits until the deadline (ETIMEOUT).
 * - Concurrent fetches of one id share one transfer (single-flight). A caller's
 *   signal stops only its own wait; the transfer is cancelled once nobody waits.
 */
import { setMaxListeners } from 'node:events'
import { GtfsError, NotFoundError, TimeoutError } from '../errors.ts'
import { isObjectId } from '../git/object-id.ts'
import { logger } from '../log.ts'
import type { AbortOptions, ObjectId, ObjectType } from '../types.ts'
import { MAX_BATCH, MAX_DEPTH } from './messages.ts'
import type { Peer, VerifiedObject } from './peer.ts'
import type { PeerPool } from './peer-pool.ts'

const log = logger('gtfs:swarm:fetcher')

/** Where verified objects go (the repo layer hands in the store). */
export interface ObjectSink {
  write (type: ObjectType, data: Buffer, id: ObjectId): Promise<void>
}

export interface FetcherOptions {
  pool: PeerPool
  sink: ObjectSink
  /** ids per request (default 64; at most MAX_BATCH and each peer's cap) */
  batchSize?: number
  /** ms a fetch may take in all before it fails with ETIMEOUT (default 30 s) */
  deadlineMs?: number
  /** ms a request may sit idle at one peer before it moves on (default: the peer's own, 10 s) */
  requestTimeoutMs?: number
}

export interface FetchOptions extends AbortOptions {
  /** 0: the ids only; N: each tree with everything under it to N levels */
  depth?: number
  /** with depth: subtrees only, no blobs */
  treesOnly?: boolean
  /** sizes known in advance (a catalog's); a peer announcing another size is dropped (EBADSIZE) */
  sizeOf?: (id: ObjectId) => number | undefined
}

export interface FetcherStats {
  objects: number
  bytes: number
  batches: number
  retries: number
}

interface Entry {
  id: ObjectId
  job: Job
  promise: Promise<void>
  resolve: () => void
  reject: (err: unknown) => void
  waiters: number
  settled: boolean
}

interface Job {
  depth: number
  treesOnly?: boolean
  sizeOf?: (id: ObjectId) => number | undefined
  ac: AbortController
  /** ids not yet settled */
  pending: Set<ObjectId>
  /** ids waiting for a peer */
  queue: ObjectId[]
  tried: Map<ObjectId, Set<Peer>>
  lastErr: Map<ObjectId, unknown>
  running: number
  wake: (() => void) | null
}

export class Fetcher {
  readonly stats: FetcherStats = { objects: 0, bytes: 0, batches: 0, retries: 0 }
  private readonly entries = new Map<ObjectId, Entry>()
  /** batches this fetcher has open at each peer, all jobs together */
  private readonly load = new Map<Peer, number>()
  private readonly jobs = new Set<Job>()
  private readonly pool: PeerPool
  private readonly sink: ObjectSink
  private readonly batchSize: number
  private readonly deadlineMs: number
  private readonly requestTimeoutMs?: number

  constructor (opts: FetcherOptions) {
    this.pool = opts.pool
    this.sink = opts.sink
    this.batchSize = Math.max(1, Math.min(MAX_BATCH, opts.batchSize ?? 64))
    this.deadlineMs = opts.deadlineMs ?? 30_000
    this.requestTimeoutMs = opts.requestTimeoutMs
  }

  /** ids being fetched right now */
  get inflight (): number { return this.entries.size }

  async fetch (ids: ObjectId[], opts: FetchOptions = {}): Promise<void> {
    const depth = opts.depth ?? 0
    if (!Number.isInteger(depth) || depth < 0 || depth > MAX_DEPTH) throw new RangeError(`depth ${depth} outside 0..${MAX_DEPTH}`)
    const uniq = [...new Set(ids)]
    for (const id of uniq) if (!isObjectId(id)) throw new TypeError(`not an object id: ${String(id)}`)
    opts.signal?.throwIfAborted()
    if (uniq.length === 0) return

    const mine: Entry[] = []
    const fresh: ObjectId[] = []
    const job = this.newJob(depth)
    job.sizeOf = opts.sizeOf
    job.treesOnly = opts.treesOnly === true
    for (const id of uniq) {
      let e = this.entries.get(id)
      if (e === undefined) {
        e = this.newEntry(id, job)
        fresh.push(id)
      }
      e.waiters++
      mine.push(e)
    }
    if (fresh.length > 0) {
      for (const id of fresh) job.pending.add(id)
      job.queue.push(...fresh)
      void this.run(job)
    }

    const { signal } = opts
    let onAbort: (() => void) | undefined
    try {
      const all = Promise.all(mine.map(async e => { await e.promise }))
      if (signal === undefined) {
        await all
      } else {
        await Promise.race([all, new Promise<never>((_resolve, reject) => {
          onAbort = () => { reject(signal.reason) }
          signal.addEventListener('abort', onAbort)
        })])
      }
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort)
      for (const e of mine) {
        e.waiters--
        if (e.waiters === 0 && !e.settled) this.maybeAbandon(e.job)
      }
    }
  }

  private newJob (depth: number): Job {
    const ac = new AbortController()
    setMaxListeners(0, ac.signal) // one listener per open request of this job
    return {
      depth,
      ac,
      pending: new Set(),
      queue: [],
      tried: new Map(),
      lastErr: new Map(),
      running: 0,
      wake: null
    }
  }

  private newEntry (id: ObjectId, job: Job): Entry {
    let resolve!: () => void
    let reject!: (err: unknown) => void
    const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej })
    promise.catch(() => {}) // a waiter that left must not turn this into an unhandled rejection
    const e: Entry = { id, job, promise, resolve, reject, waiters: 0, settled: false }
    this.entries.set(id, e)
    return e
  }

  private settle (id: ObjectId, err?: unknown): void {
    const e = this.entries.get(id)
    if (e === undefined || e.settled) return
    e.settled = true
    this.entries.delete(id)
    e.job.pending.delete(id)
    if (err === undefined) e.resolve(); else e.reject(err)
  }

  /** Nobody waits for any id of this job any more: stop its transfers. */
  private maybeAbandon (job: Job): void {
    for (const id of job.pending) {
      if ((this.entries.get(id)?.waiters ?? 0) > 0) return
    }
    job.ac.abort(new GtfsError('EABANDONED', 'no caller waits for this fetch any more'))
  }

  private notify (job: Job): void {
    const w = job.wake
    job.wake = null
    w?.()
  }

  private async run (job: Job): Promise<void> {
    const timer = setTimeout(() => {
      job.ac.abort(new TimeoutError(`no peer delivered ${job.pending.size} object(s) within ${this.deadlineMs} ms`))
    }, this.deadlineMs)
    const onPool = (): void => { this.notify(job) }
    const onAbort = (): void => { this.notify(job) }
    this.pool.on('peer', onPool)
    this.pool.on('drop', onPool)
    this.pool.on('close', onPool)
    job.ac.signal.addEventListener('abort', onAbort)
    this.jobs.add(job)
    try {
      while (job.pending.size > 0 && !job.ac.signal.aborted) {
        this.assign(job)
        if (job.pending.size === 0 || job.ac.signal.aborted) break
        if (this.pool.isClosed && job.running === 0) {
          job.ac.abort(new GtfsError('ECLOSED', 'the peer pool is closed'))
          break
        }
        await new Promise<void>(resolve => { job.wake = resolve })
      }
      if (job.ac.signal.aborted) {
        const reason: unknown = job.ac.signal.reason
        for (const id of [...job.pending]) this.settle(id, reason)
      }
    } finally {
      this.jobs.delete(job)
      clearTimeout(timer)
      this.pool.off('peer', onPool)
      this.pool.off('drop', onPool)
      this.pool.off('close', onPool)
      job.ac.signal.removeEventListener('abort', onAbort)
    }
  }

  private triedBy (job: Job, id: ObjectId): Set<Peer> {
    let s = job.tried.get(id)
    if (s === undefined) { s = new Set(); job.tried.set(id, s) }
    return s
  }

  /**
   * Hands queued ids to peers with a free request slot (so a faster peer, which
   * frees its slots sooner, gets more of the work); keeps ids that only wait
   * for a slot or a peer; settles ids that no peer can give.
   */
  private assign (job: Job): void {
    let queue = job.queue.filter(id => job.pending.has(id))
    job.queue = []
    const load = (p: Peer): number => this.load.get(p) ?? 0
    const untried = (id: ObjectId, p: Peer): boolean => job.tried.get(id)?.has(p) !== true
    while (queue.length > 0) {
      const peer = this.pool.pick(p => load(p) < p.maxRequests && queue.some(id => untried(id, p)), load)
      if (peer === null) break
      const size = Math.min(this.batchSize, peer.maxBatch)
      const batch: ObjectId[] = []
      const skipped: ObjectId[] = []
      let i = 0
      for (; i < queue.length && batch.length < size; i++) {
        if (untried(queue[i], peer)) batch.push(queue[i]); else skipped.push(queue[i])
      }
      queue = skipped.length > 0 ? skipped.concat(queue.slice(i)) : queue.slice(i)
      this.launch(job, peer, batch)
    }
    if (queue.length === 0) return
    const ready = this.pool.ready()
    const waiting = ready.length === 0 || this.pool.connecting() > 0
    for (const id of queue) {
      const tried = this.triedBy(job, id)
      if (waiting || ready.some(p => !tried.has(p))) { job.queue.push(id); continue }
      const last = job.lastErr.get(id)
      this.settle(id, last instanceof Error && !(last instanceof NotFoundError)
        ? last
        : new NotFoundError(`no peer has object ${id} (${tried.size} asked)`))
    }
  }

  private launch (job: Job, peer: Peer, batch: ObjectId[]): void {
    job.running++
    this.load.set(peer, (this.load.get(peer) ?? 0) + 1)
    this.stats.batches++
    const delivered = new Set<ObjectId>()
    const store = async (obj: VerifiedObject): Promise<void> => {
      try {
        await this.sink.write(obj.type, obj.data, obj.id)
      } catch (err) {
        // the sink's failure, not the peer's: fail this id for its waiters
        log('sink refused %s: %s', obj.id, (err as Error).message)
        this.settle(obj.id, err)
        return
      }
      this.stats.objects++
      this.stats.bytes += obj.data.length
      delivered.add(obj.id)
      const e = this.entries.get(obj.id)
      if (e !== undefined && e.job !== job) this.settle(obj.id) // a closure brought another fetch's object
    }
    peer.fetch(batch, { depth: job.depth, treesOnly: job.treesOnly, signal: job.ac.signal, timeoutMs: this.requestTimeoutMs, sizeOf: job.sizeOf, onObject: store })
      .then(res => {
        for (const id of res.missing) {
          this.triedBy(job, id).add(peer)
          job.lastErr.set(id, new NotFoundError(`peer ${peer.address} does not have ${id}`))
        }
      }, (err: unknown) => {
        if (job.ac.signal.aborted) return
        log('batch of %d at %s failed: %s', batch.length, peer.address, (err as Error).message)
        for (const id of batch) {
          this.triedBy(job, id).add(peer)
          job.lastErr.set(id, err)
        }
      })
      .finally(() => {
        job.running--
        const n = (this.load.get(peer) ?? 1) - 1
        if (n > 0) this.load.set(peer, n); else this.load.delete(peer)
        for (const id of batch) {
          if (delivered.has(id)) this.settle(id)
          else if (job.pending.has(id)) { job.queue.push(id); this.stats.retries++ }
        }
        // a slot is free at this peer: every job may use it
        for (const j of this.jobs) this.notify(j)
      })
  }
}

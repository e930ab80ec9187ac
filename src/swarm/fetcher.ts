/**
 * Fetches objects from a swarm into a sink: batched, spread over peers,
 * retried elsewhere, single-flight.
 *
 * - `fetch(ids)` resolves once every id has been received from some peer,
 *   hash-checked (Peer does that before anything else sees the bytes) and
 *   written to the sink. With `depth`, the closure under each tree comes along
 *   in the same round trips and is written too, before the call resolves; it
 *   resolves true when the closure under every id came whole in this call's
 *   own requests (Peer's result `whole`, judged as it arrived).
 * - Ids are cut into batches (`batchSize`, at most the peer's cap) and each
 *   batch goes to the peer PeerPool.pick rates best (throughput per open
 *   request) among those with room: a free request slot, and fewer bytes
 *   outstanding than the peer delivers in `horizonMs` at its measured rate
 *   (at least 1 MiB). The rest wait for room, so all peers pull at once and a
 *   faster peer, which frees room sooner, takes more of the work.
 * - A peer whose hello says it is the repo's origin (its publisher) gets work
 *   only when no other peer has room, or when the peer that would take it
 *   has more than `originAfterMs` of work outstanding at its measured rate
 *   and the origin less: readers that hold a copy serve first, and the origin
 *   adds its upload only where theirs is the limit (rate-limited uplinks), not
 *   where a reader's fast copy drains its backlog at once.
 * - Without a closure (depth 0) an object settles as soon as it is in the
 *   sink, not when its batch is done.
 * - Work stealing: once nothing is queued, a batch outstanding longer than
 *   `stealAfterMs` is asked again, for what it has not delivered, of an idle
 *   peer; the first copy wins, the other request is cancelled.
 * - An id that a peer says it does not have, or whose batch timed out or
 *   failed, goes to another peer that has not been tried for it. A peer fault
 *   (bad hash, cap) drops and bans the peer (Peer + PeerPool); the batch's
 *   unfinished ids go elsewhere.
 * - Gives up on an id when every ready peer has been tried and none is still
 *   connecting: ENOTFOUND when all of them said they do not have it, else the
 *   last error. With no peer at all it waits until the deadline (ETIMEOUT).
 * - Concurrent fetches of one id share one transfer (single-flight). A caller's
 *   signal stops only its own wait; the transfer is cancelled once nobody waits.
 * - `fetchChunks` asks for chunks of one large blob the same way: each chunk
 *   is one work item (key `<id>#<index>`, one `range` request), scheduled,
 *   stolen, retried and single-flighted by the same code as objects, but only
 *   at peers whose hello says they answer ranges. A chunk counts its bytes
 *   against a peer's room. Each is checked against its catalog SHA-256 by
 *   Peer before `write` sees it; a bad one drops and bans the peer.
 */
import { setMaxListeners } from 'node:events'
import { GtfsError, NotFoundError, TimeoutError } from '../errors.ts'
import { isObjectId } from '../git/object-id.ts'
import { logger } from '../log.ts'
import type { AbortOptions, ChunkSpec, ObjectId, ObjectType } from '../types.ts'
import { MAX_BATCH, MAX_DEPTH } from './messages.ts'
import type { Peer, VerifiedObject } from './peer.ts'
import type { PeerPool } from './peer-pool.ts'

const log = logger('gtfs:swarm:fetcher')

/**
 * Where verified objects go (the repo layer hands in the store): `id` is the
 * hash of `type` and `data`, checked on arrival; `deflated`, when the object
 * came as a zlib stream, is that stream (inflates to `data`: a pack entry as is).
 */
export interface ObjectSink {
  write (type: ObjectType, data: Buffer, id: ObjectId, deflated?: Buffer): Promise<void>
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
  /** ms of transfer at a peer's measured rate that may be outstanding there (default 300) */
  horizonMs?: number
  /** ms after which an idle peer may take over a batch still outstanding elsewhere (default 500) */
  stealAfterMs?: number
  /** ms of outstanding work at the peer that would take a batch, beyond which the origin takes it when its own is less (default 150) */
  originAfterMs?: number
}

export interface FetchOptions extends AbortOptions {
  /** 0: the ids only; N: each tree with everything under it to N levels */
  depth?: number
  /** with depth: subtrees only, no blobs */
  treesOnly?: boolean
  /** the ids (and their closure) are commits, trees or tags: a peer sending a blob is dropped (EPROTO) */
  nonBlobs?: boolean
  /** sizes known in advance (a catalog's); a peer announcing another size is dropped (EBADSIZE) */
  sizeOf?: (id: ObjectId) => number | undefined
  /**
   * a prefetch, nobody waits for it yet: it waits for room at a peer. Other
   * fetches (a reader waits) take any free request slot, room or not.
   */
  background?: boolean
}

export interface FetcherStats {
  objects: number
  bytes: number
  /** chunks of large blobs received (fetchChunks), and their bytes */
  chunks: number
  chunkBytes: number
  batches: number
  retries: number
  /** batches asked again of an idle peer because they were slow elsewhere */
  stolen: number
}

/** What a fetcher has out at one peer (see Fetcher.peerLoad). */
export interface PeerLoad {
  requests: number
  owedBytes: number
  bytesPerSec: number
}

/** bytes a peer may have outstanding before its rate is known, and at least after */
const MIN_INFLIGHT_BYTES = 1024 * 1024
const MAX_INFLIGHT_BYTES = 64 * 1024 * 1024
/** bytes from a peer before its measured rate counts */
const MEASURED_BYTES = 256 * 1024

/** What this fetcher has asked of one peer, all jobs together. */
interface PeerStat {
  /** requests open */
  load: number
  /** bytes of requested objects not yet received: each as the catalog gives it (`sizeOf`), else a guess (`estimate`) */
  objectBytes: number
  /** when load last went from 0 to 1 */
  since: number
  /** ms with at least one request open, up to `since` */
  busyMs: number
  /** bytes received */
  bytes: number
  /** bytes of chunks (range requests) asked for and not yet received */
  rangeBytes: number
}

/** One request out at one peer. */
interface Batch {
  peer: Peer
  /** object ids, or the key of one chunk */
  ids: ObjectId[]
  /** a chunk batch: its chunk was received (object batches go by `owed`) */
  arrived: number
  /** requested objects not yet received, with the bytes counted for each in the peer's `objectBytes` */
  owed: Map<ObjectId, number>
  delivered: Set<ObjectId>
  started: number
  stolen: boolean
  ac: AbortController
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
  /** a job of chunks of one blob (keys `<id>#<index>`), not of objects */
  chunks?: ChunkSpec
  depth: number
  background: boolean
  treesOnly?: boolean
  nonBlobs?: boolean
  sizeOf?: (id: ObjectId) => number | undefined
  ac: AbortController
  /** ids not yet settled */
  pending: Set<ObjectId>
  /** ids waiting for a peer */
  queue: ObjectId[]
  tried: Map<ObjectId, Set<Peer>>
  lastErr: Map<ObjectId, unknown>
  running: number
  /** requests out for this job */
  batches: Set<Batch>
  /** ids whose closure a peer sent whole (with depth) */
  whole: Set<ObjectId>
  /** id → requests out for it (more than one once stolen) */
  outstanding: Map<ObjectId, number>
  /** a batch of this job was asked of a second peer */
  stolen: boolean
  wake: (() => void) | null
}

export class Fetcher {
  readonly stats: FetcherStats = { objects: 0, bytes: 0, chunks: 0, chunkBytes: 0, batches: 0, retries: 0, stolen: 0 }
  private readonly entries = new Map<ObjectId, Entry>()
  private readonly peerStats = new WeakMap<Peer, PeerStat>()
  private readonly jobs = new Set<Job>()
  private readonly pool: PeerPool
  private readonly sink: ObjectSink
  private readonly batchSize: number
  private readonly deadlineMs: number
  private readonly requestTimeoutMs?: number
  private readonly horizonMs: number
  private readonly stealAfterMs: number
  private readonly originAfterMs: number

  constructor (opts: FetcherOptions) {
    this.pool = opts.pool
    this.sink = opts.sink
    this.batchSize = Math.max(1, Math.min(MAX_BATCH, opts.batchSize ?? 64))
    this.deadlineMs = opts.deadlineMs ?? 30_000
    this.requestTimeoutMs = opts.requestTimeoutMs
    this.horizonMs = opts.horizonMs ?? 300
    this.stealAfterMs = opts.stealAfterMs ?? 500
    this.originAfterMs = opts.originAfterMs ?? 150
    // one listener for all jobs (not one per job: many jobs run at once)
    const wakeAll = (): void => { for (const j of this.jobs) this.notify(j) }
    this.pool.on('peer', wakeAll)
    this.pool.on('drop', wakeAll)
    this.pool.on('close', wakeAll)
  }

  /** ids being fetched right now */
  get inflight (): number { return this.entries.size }

  /**
   * What this fetcher has out at `peer` now (`gtfs status`): requests open,
   * bytes owed (catalog sizes, else estimates; inflated), and the inflated
   * bytes per second it delivered while it had work from us (0 until
   * MEASURED_BYTES). Whether the peers or this node bound a fetch shows here:
   * requests at the peer's cap all the time, or peers without any.
   */
  peerLoad (peer: Peer): PeerLoad {
    const st = this.peerStats.get(peer)
    if (st === undefined) return { requests: 0, owedBytes: 0, bytesPerSec: 0 }
    return { requests: st.load, owedBytes: st.objectBytes + st.rangeBytes, bytesPerSec: Math.round(this.rateOf(st) * 1000) }
  }

  /**
   * Ids not yet received (`pending`) and, of those, waiting for a peer with
   * room (`queued`): for callers that wait (`wait`) and for prefetch and
   * readahead (`ahead`). Nothing queued ahead while peers have no requests:
   * the reader, not the swarm, is the bound.
   */
  get backlog (): { wait: { queued: number, pending: number }, ahead: { queued: number, pending: number } } {
    const wait = { queued: 0, pending: 0 }
    const ahead = { queued: 0, pending: 0 }
    for (const j of this.jobs) {
      const b = j.background ? ahead : wait
      for (const id of j.queue) if (j.pending.has(id)) b.queued++
      b.pending += j.pending.size
    }
    return { wait, ahead }
  }

  async fetch (ids: ObjectId[], opts: FetchOptions = {}): Promise<boolean> {
    const depth = opts.depth ?? 0
    if (!Number.isInteger(depth) || depth < 0 || depth > MAX_DEPTH) throw new RangeError(`depth ${depth} outside 0..${MAX_DEPTH}`)
    const uniq = [...new Set(ids)]
    for (const id of uniq) if (!isObjectId(id)) throw new TypeError(`not an object id: ${String(id)}`)
    opts.signal?.throwIfAborted()
    if (uniq.length === 0) return false
    const job = this.newJob(depth)
    job.sizeOf = opts.sizeOf
    job.treesOnly = opts.treesOnly === true
    job.nonBlobs = opts.nonBlobs === true
    job.background = opts.background === true
    await this.start(job, uniq, opts)
    // An id another fetch was already bringing came without this job's word on its closure.
    return depth > 0 && uniq.every(id => job.whole.has(id))
  }

  /**
   * Fetches chunks `indexes` of the blob `spec` describes into `spec.write`;
   * resolves when each is written. Errors as for `fetch`; ENOTFOUND also when
   * no ready peer answers ranges.
   */
  async fetchChunks (spec: ChunkSpec, indexes: number[], opts: AbortOptions & { background?: boolean } = {}): Promise<void> {
    const count = Math.ceil(spec.size / spec.chunkBytes)
    for (const i of indexes) if (!Number.isInteger(i) || i < 0 || i >= count) throw new RangeError(`chunk ${i} of ${count}`)
    opts.signal?.throwIfAborted()
    if (indexes.length === 0) return
    const job = this.newJob(0)
    job.chunks = spec
    job.background = opts.background === true
    await this.start(job, [...new Set(indexes)].map(i => `${spec.id}#${i}`), opts)
  }

  /** Hands `keys` (object ids, or chunk keys) to `job` unless a transfer of them is under way; waits for all. */
  private async start (job: Job, keys: string[], opts: AbortOptions): Promise<void> {
    const depth = job.depth
    const mine: Entry[] = []
    const fresh: ObjectId[] = []
    for (const id of keys) {
      let e = this.entries.get(id)
      if (e === undefined) {
        e = this.newEntry(id, job)
        fresh.push(id)
      } else if (!job.background && e.job.background && depth === 0 && e.job.depth === 0 && !e.job.outstanding.has(id) && (e.job.chunks === undefined) === (job.chunks === undefined)) {
        // queued by a prefetch that waits for room, and now a reader waits: it goes now, with this job
        const old = e.job
        old.pending.delete(id)
        e.job = job
        fresh.push(id)
        this.notify(old) // it may have nothing left to do
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
      const all = Promise.all(mine.map(e => e.promise))
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
      background: false,
      ac,
      pending: new Set(),
      queue: [],
      tried: new Map(),
      lastErr: new Map(),
      running: 0,
      batches: new Set(),
      whole: new Set(),
      outstanding: new Map(),
      stolen: false,
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
    const onAbort = (): void => { this.notify(job) }
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
        // with requests out, look again now and then: one may be worth stealing
        let tick: NodeJS.Timeout | undefined
        await new Promise<void>(resolve => {
          job.wake = resolve
          if (job.running > 0) tick = setTimeout(resolve, Math.max(20, this.stealAfterMs / 2))
        })
        clearTimeout(tick)
        job.wake = null
      }
      if (job.ac.signal.aborted) {
        const reason: unknown = job.ac.signal.reason
        for (const id of [...job.pending]) this.settle(id, reason)
      }
    } finally {
      this.jobs.delete(job)
      clearTimeout(timer)
      job.ac.signal.removeEventListener('abort', onAbort)
    }
  }

  private triedBy (job: Job, id: ObjectId): Set<Peer> {
    let s = job.tried.get(id)
    if (s === undefined) { s = new Set(); job.tried.set(id, s) }
    return s
  }

  private stat (peer: Peer): PeerStat {
    let st = this.peerStats.get(peer)
    if (st === undefined) { st = { load: 0, objectBytes: 0, since: 0, busyMs: 0, bytes: 0, rangeBytes: 0 }; this.peerStats.set(peer, st) }
    return st
  }

  /** bytes/ms this peer delivered while it had work from us; 0 until measured */
  private rateOf (st: PeerStat): number {
    if (st.bytes < MEASURED_BYTES) return 0
    const busy = st.busyMs + (st.load > 0 ? Date.now() - st.since : 0)
    return st.bytes / Math.max(1, busy)
  }

  /** mean size of the objects received so far (a guess before the first) */
  private get meanObject (): number {
    return this.stats.objects === 0 ? 16 * 1024 : Math.max(64, this.stats.bytes / this.stats.objects)
  }

  /**
   * Bytes an id will take: the catalog's size when the job has it, else the
   * mean so far. A mount's first objects are trees (~1 KiB): by the mean
   * alone, the 16 request slots of one peer held ~1,000 blobs (8 MB, 4 s at
   * 2 MiB/s) of the bench's wide tree that other peers could have sent.
   */
  private estimate (job: Job, id: ObjectId): number {
    return job.sizeOf?.(id) ?? this.meanObject
  }

  /**
   * Bytes this peer may have outstanding: what it delivers in `horizonMs` at
   * its measured rate (so a rate-limited peer is not buried under work that
   * others could do), at least MIN_INFLIGHT_BYTES.
   */
  private roomAt (peer: Peer): number {
    const st = this.stat(peer)
    const cap = Math.min(MAX_INFLIGHT_BYTES, Math.max(MIN_INFLIGHT_BYTES, this.rateOf(st) * this.horizonMs))
    return cap - st.objectBytes - st.rangeBytes
  }

  /** A peer that may be asked for this job's items: one that answers ranges, for chunks. */
  private eligible (job: Job, p: Peer): boolean {
    return job.chunks === undefined || p.servesRanges
  }

  /** ms this peer needs for what is outstanding there, at its measured rate (0 while unmeasured) */
  private backlogMs (p: Peer): number {
    const st = this.stat(p)
    const rate = this.rateOf(st)
    return rate === 0 ? 0 : (st.objectBytes + st.rangeBytes) / rate
  }

  /**
   * The peer that should take work now: a free request slot, room under its
   * in-flight bytes, and something `hasWork` it may be asked for. The origin
   * (a peer that says in its hello that it publishes the repo) only when no
   * other peer has room and every other peer's rate is known (their room is
   * measured, not guessed), or when `anyOrigin`: readers who already hold a
   * copy take the load off it. The origin also takes the work when the peer
   * chosen for it has more than `originAfterMs` outstanding, no other
   * reader with room has less, and the origin has less: four seeders limited
   * to 2 MiB/s each, with a reader's walk asking one directory at a time,
   * kept the other three just under their room and left the origin's upload
   * unused (the bench's swarm-4: 36-51 s, 34-38 s with the origin taking its
   * share). Without `needRoom` (a reader waits) a peer with room still comes
   * first, the origin included, so a batch is not queued
   * behind a full backlog at a slow peer while the origin idles; only when
   * none has room does it take any free slot, the origin's last.
   */
  private choose (hasWork: (p: Peer) => boolean, anyOrigin = false, needRoom = true): Peer | null {
    const load = (p: Peer): number => this.peerStats.get(p)?.load ?? 0
    const slot = (p: Peer): boolean => load(p) < p.maxRequests && hasWork(p)
    const roomy = (p: Peer): boolean => slot(p) && this.roomAt(p) > 0
    const pick = (open: (p: Peer) => boolean): Peer | null => {
      const other = this.pool.pick(p => p.remoteHello?.origin !== true && open(p), load)
      if (other !== null) {
        const behind = this.backlogMs(other)
        if (behind < this.originAfterMs) return other
        // another reader that is not behind comes before the origin (pick rates by throughput, not backlog)
        const calm = this.pool.pick(p => p.remoteHello?.origin !== true && open(p) && this.backlogMs(p) < this.originAfterMs, load)
        if (calm !== null) return calm
        return this.pool.pick(p => p.remoteHello?.origin === true && open(p) && this.backlogMs(p) < behind, load) ?? other
      }
      if (!anyOrigin && this.pool.ready().some(p => p.remoteHello?.origin !== true && this.rateOf(this.stat(p)) === 0 && load(p) > 0)) return null
      return this.pool.pick(p => p.remoteHello?.origin === true && open(p), load)
    }
    return pick(roomy) ?? (needRoom ? null : pick(slot))
  }

  /**
   * Hands queued ids to peers with room (so a faster peer, which frees its
   * room sooner, gets more of the work); keeps ids that only wait for room or
   * a peer; settles ids that no peer can give. With nothing queued, lets an
   * idle peer take over a batch that has been outstanding too long elsewhere.
   */
  private assign (job: Job): void {
    if (job.queue.length === 0) { this.steal(job); return }
    // a prefetch while every peer is full: its queue waits as it is (copying it
    // at every wake was most of a slow fetch's scheduling garbage)
    if (job.background && !this.pool.ready().some(p => this.eligible(job, p) && this.stat(p).load < p.maxRequests && this.roomAt(p) > 0)) return
    let queue = job.queue.filter(id => job.pending.has(id))
    job.queue = []
    const untried = (id: ObjectId, p: Peer): boolean => job.tried.get(id)?.has(p) !== true
    // queue[head..] is what is left (no copy of the rest per batch: a long
    // queue was copied once per batch taken from it)
    let head = 0
    const hasWork = (p: Peer): boolean => {
      if (!this.eligible(job, p)) return false
      for (let k = head; k < queue.length; k++) if (untried(queue[k], p)) return true
      return false
    }
    while (head < queue.length) {
      const peer = this.choose(hasWork, false, job.background)
      if (peer === null) break
      // a prefetch takes what fits the peer's room (at least one id); a chunk is one range request
      let room = job.background && job.chunks === undefined ? this.roomAt(peer) : Infinity
      const size = job.chunks !== undefined ? 1 : Math.min(this.batchSize, peer.maxBatch)
      const batch: ObjectId[] = []
      const skipped: ObjectId[] = []
      let i = head
      for (; i < queue.length && batch.length < size; i++) {
        if (!untried(queue[i], peer)) { skipped.push(queue[i]); continue }
        if (room !== Infinity) {
          const bytes = this.estimate(job, queue[i])
          if (batch.length > 0 && bytes > room) break
          room -= bytes
        }
        batch.push(queue[i])
      }
      // what this peer was tried for goes back to the front, for the others
      if (skipped.length > 0) { queue = skipped.concat(queue.slice(i)); head = 0 } else head = i
      this.launch(job, peer, batch)
    }
    if (head > 0) queue = queue.slice(head)
    if (queue.length === 0) { this.steal(job); return }
    const ready = this.pool.ready().filter(p => this.eligible(job, p))
    const waiting = this.pool.ready().length === 0 || this.pool.connecting() > 0
    for (const id of queue) {
      const tried = this.triedBy(job, id)
      if (waiting || ready.some(p => !tried.has(p)) || (job.outstanding.get(id) ?? 0) > 0) { job.queue.push(id); continue }
      const last = job.lastErr.get(id)
      this.settle(id, last instanceof Error && !(last instanceof NotFoundError)
        ? last
        : new NotFoundError(job.chunks !== undefined && ready.length === 0 ? `no peer answers ranges (chunk ${id})` : `no peer has object ${id} (${tried.size} asked)`))
    }
  }

  /**
   * Work stealing at the end of a job: a batch outstanding for longer than
   * `stealAfterMs` is asked again, for what it has not delivered, of a peer
   * with nothing to do. Whichever copy arrives first counts; the other request
   * is cancelled once none of its ids is wanted any more.
   */
  private steal (job: Job): void {
    if (job.depth > 0) return // a closure is not worth asking for twice
    // a thief has nothing open: without one there is nothing to do
    if (!this.pool.ready().some(p => (this.peerStats.get(p)?.load ?? 0) === 0)) return
    const now = Date.now()
    for (const b of job.batches) {
      if (b.stolen || now - b.started < this.stealAfterMs) continue
      const left = b.ids.filter(id => job.pending.has(id) && !b.delivered.has(id))
      if (left.length === 0) continue
      const thief = this.choose(p => p !== b.peer && this.eligible(job, p) && (this.peerStats.get(p)?.load ?? 0) === 0 &&
        left.some(id => job.tried.get(id)?.has(p) !== true), true)
      if (thief === null) return
      b.stolen = true
      job.stolen = true
      this.stats.stolen++
      log('%s took over %d object(s) outstanding at %s for %d ms', thief.address, left.length, b.peer.address, now - b.started)
      this.launch(job, thief, left.filter(id => job.tried.get(id)?.has(thief) !== true).slice(0, Math.min(this.batchSize, thief.maxBatch)))
    }
  }

  private launch (job: Job, peer: Peer, ids: ObjectId[]): void {
    job.running++
    const st = this.stat(peer)
    if (st.load === 0) st.since = Date.now()
    st.load++
    const chunkLen = job.chunks === undefined ? 0 : this.chunkRange(job.chunks, ids[0]).len
    const owed = new Map<ObjectId, number>()
    if (job.chunks === undefined) {
      for (const id of ids) {
        const bytes = this.estimate(job, id)
        owed.set(id, bytes)
        st.objectBytes += bytes
      }
    } else st.rangeBytes += chunkLen
    this.stats.batches++
    const ac = new AbortController()
    setMaxListeners(0, ac.signal)
    const b: Batch = { peer, ids, arrived: 0, owed, delivered: new Set(), started: Date.now(), stolen: false, ac }
    job.batches.add(b)
    for (const id of ids) job.outstanding.set(id, (job.outstanding.get(id) ?? 0) + 1)
    const signal = AbortSignal.any([job.ac.signal, ac.signal])
    const asked = job.chunks === undefined ? this.askObjects(job, b, st, signal) : this.askChunk(job, job.chunks, b, st, signal)
    asked
      .then(missing => {
        for (const id of missing) {
          this.triedBy(job, id).add(peer)
          job.lastErr.set(id, new NotFoundError(`peer ${peer.address} does not have ${id}`))
        }
      }, (err: unknown) => {
        if (job.ac.signal.aborted || ac.signal.aborted) return
        log('batch of %d at %s failed: %s', ids.length, peer.address, (err as Error).message)
        for (const id of ids) {
          this.triedBy(job, id).add(peer)
          job.lastErr.set(id, err)
        }
      })
      .finally(() => {
        job.running--
        job.batches.delete(b)
        st.load--
        if (job.chunks === undefined) {
          for (const bytes of b.owed.values()) st.objectBytes -= bytes
          b.owed.clear()
          st.objectBytes = Math.max(0, st.objectBytes)
        } else if (b.arrived === 0) st.rangeBytes = Math.max(0, st.rangeBytes - chunkLen)
        if (st.load === 0) { st.busyMs += Date.now() - st.since; st.objectBytes = 0; st.rangeBytes = 0 }
        for (const id of ids) {
          const n = (job.outstanding.get(id) ?? 1) - 1
          if (n > 0) job.outstanding.set(id, n); else job.outstanding.delete(id)
        }
        for (const id of ids) {
          if (b.delivered.has(id)) this.settle(id)
          else if (job.pending.has(id) && !job.outstanding.has(id)) { job.queue.push(id); this.stats.retries++ }
        }
        if (job.stolen) this.dropSettledBatches(job)
        // room is free at this peer: every job with ids queued may use it (one
        // with none looks for work to steal on its own tick; waking every job
        // at every batch's end was a fifth of a slow fetch's allocation)
        for (const j of this.jobs) if (j === job || j.queue.length > 0) this.notify(j)
      })
  }

  /** One `want` for the batch's ids; each verified object goes to the sink as it comes. Returns the ids the peer does not have. */
  private async askObjects (job: Job, b: Batch, st: PeerStat, signal: AbortSignal): Promise<ObjectId[]> {
    let refused = false
    const store = async (obj: VerifiedObject): Promise<void> => {
      st.bytes += obj.data.length
      const owed = b.owed.get(obj.id)
      if (owed !== undefined) {
        b.owed.delete(obj.id)
        st.objectBytes = Math.max(0, st.objectBytes - owed)
      }
      try {
        await this.sink.write(obj.type, obj.data, obj.id, obj.deflated)
      } catch (err) {
        // the sink's failure, not the peer's: fail this id for its waiters
        log('sink refused %s: %s', obj.id, (err as Error).message)
        refused = true
        this.settle(obj.id, err)
        return
      }
      this.stats.objects++
      this.stats.bytes += obj.data.length
      this.delivered(job, b, obj.id)
    }
    const res = await b.peer.fetch(b.ids, { depth: job.depth, treesOnly: job.treesOnly, nonBlobs: job.nonBlobs, signal, timeoutMs: this.requestTimeoutMs, sizeOf: job.sizeOf, onObject: store })
    // whole as sent, and all of it stored
    if (res.whole && !refused) for (const id of b.ids) job.whole.add(id)
    return res.missing
  }

  /** One `range` for the batch's chunk, verified by Peer, then written by the spec. Returns [key] when the peer does not have the blob. */
  private async askChunk (job: Job, spec: ChunkSpec, b: Batch, st: PeerStat, signal: AbortSignal): Promise<ObjectId[]> {
    const key = b.ids[0]
    const { index, off, len } = this.chunkRange(spec, key)
    const data = await b.peer.fetchRange(spec.id, off, len, { size: spec.size, sha256: spec.hash(index), signal, timeoutMs: this.requestTimeoutMs })
    if (data === null) return [key]
    st.bytes += len
    b.arrived++
    st.rangeBytes = Math.max(0, st.rangeBytes - len)
    try {
      await spec.write(index, data)
    } catch (err) {
      log('writing chunk %s refused: %s', key, (err as Error).message)
      this.settle(key, err)
      return []
    }
    this.stats.chunks++
    this.stats.chunkBytes += len
    this.delivered(job, b, key)
    return []
  }

  private chunkRange (spec: ChunkSpec, key: string): { index: number, off: number, len: number } {
    const index = Number(key.slice(key.indexOf('#') + 1))
    const off = index * spec.chunkBytes
    return { index, off, len: Math.min(spec.chunkBytes, spec.size - off) }
  }

  /**
   * An item is in: without a closure it is all its waiters need, so it settles
   * now, not when the rest of its batch is in. A closure brought along for
   * another fetch settles that fetch's id the same way.
   */
  private delivered (job: Job, b: Batch, id: string): void {
    b.delivered.add(id)
    const e = this.entries.get(id)
    if (e !== undefined && (e.job !== job || job.depth === 0)) {
      this.settle(id)
      if (job.stolen) this.dropSettledBatches(job)
    }
  }

  /** Cancels requests none of whose ids is still wanted (the other copy of a stolen batch came first). */
  private dropSettledBatches (job: Job): void {
    if (job.depth > 0) return
    for (const b of job.batches) {
      if (b.ac.signal.aborted || b.ids.every(id => b.delivered.has(id))) continue
      if (b.ids.every(id => !job.pending.has(id))) b.ac.abort(new GtfsError('EABANDONED', 'another peer delivered these objects'))
    }
  }
}

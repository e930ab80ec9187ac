/**
 * Warming: small blobs a view expects to be opened next (a file's siblings, the
 * directories ahead of a walk) are inflated and hashed on the zlib worker
 * before their open asks, so the open finds them in memory. Each open of a
 * file reaches the daemon alone (`cat`, a loader, a build), one after the
 * other: what the main thread no longer does between them is latency saved.
 *
 * Measured before (the bench's small-read, 50,000 files of 1-16 KiB read once
 * by one `cat` after another from git's own pack): the daemon's main thread
 * spent 2.5 s of 14.2 s in inflateSync and 0.46 s in SHA-1, on the path of
 * every read, while the second core was mostly idle.
 *
 * Bounded: warmed objects plus those on the worker hold at most `budgetBytes`;
 * a warmed object is handed out once (its open keeps it in the kernel's page
 * cache) and one nobody took within STALE_MS is dropped, so a hint that was
 * wrong costs memory for seconds. Hints queue in the order given, the oldest
 * dropped beyond MAX_QUEUE. Nothing here fails a read: an object that does
 * not warm (a delta, too big, not packed, a stream that does not inflate or
 * hash to its id) is read the usual way, which reports what is wrong.
 */
import { InflateBatch, type Inflated } from '../zlib-worker.ts'
import type { ObjectId } from '../types.ts'

/** ids waiting to be warmed, at most (the oldest hints go first) */
const MAX_QUEUE = 16_384
/** a warmed object nobody took for this long is dropped */
const STALE_MS = 3000
/** bytes of objects per message to the worker: the first of a refill are ready after this much inflating */
const BATCH_BYTES = 1024 * 1024

export interface WarmStream { stream: Uint8Array, size: number }

export interface WarmerOptions {
  /** bytes of warmed objects held and in flight, at most */
  budgetBytes: number
  /**
   * the zlib stream of a small whole blob and its size; null when it is not
   * one to warm. A stream given at once (not through a promise) may be a view
   * of memory that is reused later: it is copied before anything is awaited.
   */
  streamOf: (id: ObjectId) => WarmStream | null | Promise<WarmStream | null>
}

export class Warmer {
  private queue: ObjectId[] = []
  private head = 0
  private readonly queued = new Set<ObjectId>()
  private readonly ready = new Map<ObjectId, Buffer>()
  /** when each batch's objects became ready, oldest first (STALE_MS) */
  private readonly landings: Array<{ at: number, ids: ObjectId[] }> = []
  /** ids on the worker → their batch's answer */
  private readonly pending = new Map<ObjectId, Promise<void>>()
  /** bytes ready plus in flight */
  private bytes = 0
  private pumping = false
  private sweep: NodeJS.Timeout | null = null
  /** objects warmed, taken by an open, dropped unused, or not warmable */
  readonly stats = { warmed: 0, taken: 0, dropped: 0, skipped: 0 }

  constructor (private readonly opts: WarmerOptions) {}

  /** Queues `ids` (in this order) for warming; returns at once. */
  hint (ids: readonly ObjectId[]): void {
    for (const id of ids) {
      if (this.queued.has(id) || this.ready.has(id) || this.pending.has(id)) continue
      this.queue.push(id)
      this.queued.add(id)
    }
    while (this.queued.size > MAX_QUEUE) this.queued.delete(this.queue[this.head++])
    void this.pump()
  }

  /**
   * The blob's data if it is warm, a promise of it (null when warming failed)
   * if it is on the worker, else null; it is not warmed for this caller any
   * more. An object is handed out once.
   */
  take (id: ObjectId): Buffer | Promise<Buffer | null> | null {
    const d = this.takeNow(id)
    if (d !== null) return d
    const p = this.pending.get(id)
    if (p !== undefined) return p.then(() => this.takeNow(id))
    this.queued.delete(id)
    return null
  }

  /** The size of a blob warm now, without taking it; else null. */
  sizeNow (id: ObjectId): number | null {
    return this.ready.get(id)?.length ?? null
  }

  /** Objects and bytes held warm now. */
  get held (): { objects: number, bytes: number } {
    return { objects: this.ready.size + this.pending.size, bytes: this.bytes }
  }

  /** The blob's data if it is warm now, handed out as by `take`; else null, and it stays queued or on the worker. */
  takeNow (id: ObjectId): Buffer | null {
    const d = this.ready.get(id)
    if (d === undefined) return null
    this.ready.delete(id)
    this.bytes -= d.length
    this.stats.taken++
    void this.pump()
    return d
  }

  /**
   * Refills once half the budget is free, up to all of it, in batches of
   * BATCH_BYTES: one message each way per batch (zlib-worker.ts).
   */
  private async pump (): Promise<void> {
    if (this.pumping || this.bytes > this.opts.budgetBytes / 2) return
    this.pumping = true
    try {
      while (this.head < this.queue.length) {
        if (this.bytes >= this.opts.budgetBytes && !this.dropStale()) break
        const batch = new InflateBatch(256 * 1024)
        // pending from the moment they leave the queue: an open of one while
        // the batch is gathered waits for it rather than missing it
        let answered!: () => void
        const done = new Promise<void>(resolve => { answered = resolve })
        const ids: ObjectId[] = []
        const sizes: number[] = []
        let size = 0
        while (this.head < this.queue.length && size < BATCH_BYTES && this.bytes + size < this.opts.budgetBytes) {
          const id = this.queue[this.head++]
          if (!this.queued.delete(id)) continue // taken meanwhile, or dropped
          let s: WarmStream | null
          try {
            const got = this.opts.streamOf(id)
            s = got instanceof Promise ? await got : got
          } catch {
            s = null
          }
          if (s === null) { this.stats.skipped++; continue }
          batch.add({ stream: s.stream, size: s.size, type: 'blob', id })
          this.pending.set(id, done)
          ids.push(id)
          sizes.push(s.size)
          size += s.size
        }
        if (ids.length === 0) continue
        this.bytes += size
        batch.run().then(out => { this.landed(ids, sizes, out) }, () => { this.landed(ids, sizes, null) }).finally(answered)
      }
      if (this.head >= this.queue.length) { this.queue = []; this.head = 0 }
    } finally {
      this.pumping = false
    }
  }

  private landed (ids: ObjectId[], sizes: number[], out: Inflated[] | null): void {
    const kept: ObjectId[] = []
    for (let i = 0; i < ids.length; i++) {
      this.pending.delete(ids[i])
      const r = out?.[i]
      if (r?.data != null && r.hash === undefined && r.data.length === sizes[i] && r.used === r.stream.length) {
        this.ready.set(ids[i], r.data)
        kept.push(ids[i])
        this.stats.warmed++
      } else {
        this.bytes -= sizes[i]
        this.stats.skipped++
      }
    }
    if (kept.length > 0) this.landings.push({ at: Date.now(), ids: kept })
    if (this.sweep === null && this.ready.size > 0) {
      this.sweep = setTimeout(() => { this.sweep = null; this.dropStale(); void this.pump() }, STALE_MS)
      this.sweep.unref()
    }
    void this.pump()
  }

  /** Drops warmed objects nobody took within STALE_MS; true when it freed any. */
  private dropStale (): boolean {
    const before = Date.now() - STALE_MS
    let freed = false
    while (this.landings.length > 0 && this.landings[0].at <= before) {
      for (const id of this.landings.shift()!.ids) {
        const d = this.ready.get(id)
        if (d === undefined) continue
        this.ready.delete(id)
        this.bytes -= d.length
        this.stats.dropped++
        freed = true
      }
    }
    return freed
  }
}

/**
 * The serving half of one connection: answers `want` and `state-req` from an
 * ObjectSource and a StateSource.
 *
 * - A `want` is answered object by object, breadth first (a tree before its
 *   children, which is what lets the requester check every object it gets),
 *   each object in CHUNK_BYTES pieces; after each piece the server waits while
 *   the wire is backpressured, so the bytes queued for one peer stay bounded
 *   (open requests × one chunk + the wire's 16 KiB high-water mark).
 * - To a peer that takes zlib streams (hello `zl: 1`), an object the source
 *   holds as a whole pack entry (`readDeflated`) goes as that stored stream
 *   (`object` with `zs`), not inflated here; a tree whose children the closure
 *   needs is read (inflated) as before, and so is everything the source does
 *   not hold that way (deltas, loose objects, large blobs). The upload limiter
 *   and backpressure count the bytes sent.
 * - To a peer that takes them (hello `mo: 1`), the small objects of a
 *   trees-only closure leave several to an `objects` message (swarm/README.md
 *   says why those alone): gathered up to CHUNK_BYTES, and sent when the next
 *   one would not fit, when the `want` is answered, or at the end of the turn
 *   of the event loop in which the first was gathered (when the loop waits on
 *   the store), so none waits for objects that are not read yet. A larger
 *   object goes in chunks, after what was gathered.
 * - Ids the source does not hold are listed in `dont-have` before `done`.
 * - A `range` is answered from `source.readRange` (a positional read where the
 *   store allows) in the same `object` chunks, offsets in blob coordinates;
 *   a blob not held, or a range past its end, gets `dont-have` and `done`.
 * - `cancel` stops a request between two chunks; nothing more is sent for it.
 * - A peer that opens more than MAX_REQUESTS requests at once, or reuses an open
 *   request id, is refused (the caller drops it).
 */
import { isGtfsError, ProtocolError } from '../errors.ts'
import { logger } from '../log.ts'
import type { AbortOptions, DeflatedObject, GitObject, ObjectId, ObjectSource, ObjectType } from '../types.ts'
import { treeChildren } from './codec-tree.ts'
import {
  CHUNK_BYTES, encodeState, MAX_CLOSURE_OBJECTS, MAX_DONT_HAVE, MAX_MESSAGE_OBJECTS, MAX_REQUESTS, OBJECTS_ITEM_BYTES,
  type CancelMessage, type Message, type ObjectMessage, type RangeMessage, type RepoKey, type RepoState, type StateReqMessage, type WantMessage
} from './messages.ts'

import type { UploadLimiter } from './rate-limit.ts'
import { zlibBound } from './zlib-object.ts'

const log = logger('gtfs:swarm:server')

/** Where a repo's signed state comes from; null when this node does not serve the repo. */
export interface StateSource {
  state (key: RepoKey, opts?: AbortOptions): Promise<RepoState | null>
}

/** How the server talks back; Peer implements it over its extension and wire. */
export interface Sender {
  send (m: Message): boolean
  /** resolves when the outbound queue has room (or the connection is closing) */
  drained (): Promise<void>
  readonly backpressured: boolean
  readonly closed: boolean
  /** the peer takes objects as zlib streams (its hello says so) */
  readonly takesZlib?: boolean
  /** the peer takes `objects` messages (its hello says so) */
  readonly takesObjects?: boolean
}

/** objects up to this many bytes go in `objects` messages (to peers that take them) */
export const BATCHED_OBJECT_BYTES = CHUNK_BYTES / 2

/** The small objects of one `want` gathered for one `objects` message. */
class Gathered {
  private items: ObjectMessage[] = []
  private bytes = 0
  private scheduled = false

  constructor (private readonly r: number, private readonly sender: Sender, private readonly live: () => boolean) {}

  /** Adds a whole object, sending what is gathered first when it would not fit. */
  add (id: ObjectId, type: ObjectType, data: Buffer, zsize: number | undefined): void {
    if (this.items.length >= MAX_MESSAGE_OBJECTS || this.bytes + data.length + OBJECTS_ITEM_BYTES > CHUNK_BYTES) this.flush()
    const o: ObjectMessage = { t: 'object', r: this.r, id, type, off: 0, total: data.length, data }
    if (zsize !== undefined) o.zsize = zsize
    this.items.push(o)
    this.bytes += data.length + OBJECTS_ITEM_BYTES
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => {
        this.scheduled = false
        this.flush()
      })
    }
  }

  /** Sends what is gathered (nothing once the request is cancelled or the peer gone). */
  flush (): void {
    if (this.items.length === 0) return
    const items = this.items
    this.items = []
    this.bytes = 0
    if (this.live()) this.sender.send({ t: 'objects', r: this.r, items })
  }
}

export interface ServerStats {
  objectsOut: number
  /** of those, sent as stored zlib streams */
  deflatedOut: number
  /** object bytes sent (zlib streams counted as sent) */
  bytesOut: number
  requests: number
}

export class ObjectServer {
  readonly stats: ServerStats = { objectsOut: 0, deflatedOut: 0, bytesOut: 0, requests: 0 }
  private readonly active = new Map<number, AbortController>()

  constructor (
    private readonly sender: Sender,
    private readonly source: ObjectSource | undefined,
    private readonly stateSource: StateSource | undefined,
    private readonly maxRequests = MAX_REQUESTS,
    private readonly limiter?: UploadLimiter
  ) {}

  get open (): number { return this.active.size }

  /** Starts answering; throws ProtocolError when the peer broke a rule (the caller drops it). */
  handle (m: WantMessage | RangeMessage | StateReqMessage | CancelMessage): void {
    if (m.t === 'cancel') {
      this.active.get(m.r)?.abort()
      this.active.delete(m.r)
      return
    }
    if (this.active.has(m.r)) throw new ProtocolError('EPROTO', `request ${m.r} is already open`)
    if (this.active.size >= this.maxRequests) throw new ProtocolError('ECAP', `more than ${this.maxRequests} open requests`)
    const ac = new AbortController()
    this.active.set(m.r, ac)
    this.stats.requests++
    const run = m.t === 'want' ? this.want(m, ac.signal) : m.t === 'range' ? this.range(m, ac.signal) : this.state(m, ac.signal)
    run.catch((err: unknown) => {
      if (ac.signal.aborted || this.sender.closed) return
      // our failure, not the peer's: end the request so the peer asks elsewhere
      log('request %d failed: %s', m.r, (err as Error).message)
      this.done(m.r, false)
    }).finally(() => {
      if (this.active.get(m.r) === ac) this.active.delete(m.r)
    })
  }

  close (): void {
    for (const ac of this.active.values()) ac.abort()
    this.active.clear()
  }

  private live (signal: AbortSignal): boolean {
    return !signal.aborted && !this.sender.closed
  }

  private async read (id: ObjectId, signal: AbortSignal): Promise<GitObject | null> {
    if (this.source === undefined) return null
    try {
      return await this.source.read(id, { signal })
    } catch (err) {
      if (!isGtfsError(err, 'ENOTFOUND')) log('reading %s failed: %s', id, (err as Error).message)
      return null
    }
  }

  /** The stored zlib stream of `id` when the peer takes one and the source has it within zlib's bound; else null. */
  private async readDeflated (id: ObjectId, signal: AbortSignal): Promise<DeflatedObject | null> {
    if (this.sender.takesZlib !== true || this.source?.readDeflated === undefined) return null
    try {
      const z = await this.source.readDeflated(id, { signal })
      // a stream past the bound would be refused by the peer (ECAP): send it inflated
      return z !== null && z.deflated.length <= zlibBound(z.size) ? z : null
    } catch (err) {
      if (!isGtfsError(err, 'ENOTFOUND')) log('reading %s deflated failed: %s', id, (err as Error).message)
      return null
    }
  }

  private async want (m: WantMessage, signal: AbortSignal): Promise<void> {
    const seen = new Set<ObjectId>(m.ids)
    // [id, depth, a tree by its parent's entry]
    const queue: Array<[ObjectId, number, boolean]> = [...seen].map(id => [id, m.depth, false])
    const cap = queue.length + MAX_CLOSURE_OBJECTS
    const missing: ObjectId[] = []
    let truncated = false
    // Only a trees-only closure (a mount's structure) is gathered: the objects
    // of a cold read (blobs, as stored streams) measured slower gathered.
    const gathered = this.sender.takesObjects === true && m.trees === true ? new Gathered(m.r, this.sender, () => this.live(signal)) : null
    for (let i = 0; i < queue.length; i++) {
      if (!this.live(signal)) return
      const [id, depth, tree] = queue[i]
      // A tree whose children the closure needs is read whole (and
      // hash-checked) instead; one its parent names as a tree is not looked up
      // as a stored stream first.
      const walks = depth > 0 && !truncated
      const z = walks && tree ? null : await this.readDeflated(id, signal)
      if (!this.live(signal)) return
      if (z !== null && !(z.type === 'tree' && walks)) {
        await this.sendObject(gathered, m.r, id, z.type, z.deflated, signal, z.size)
        if (this.live(signal)) this.stats.deflatedOut++
        continue
      }
      const obj = await this.read(id, signal)
      if (!this.live(signal)) return
      if (obj === null) { missing.push(id); continue }
      await this.sendObject(gathered, m.r, id, obj.type, obj.data, signal)
      if (depth > 0 && obj.type === 'tree' && !truncated) {
        for (const child of treeChildren(obj.data, m.trees === true) ?? []) {
          if (seen.has(child.id)) continue
          if (queue.length >= cap) { truncated = true; break }
          seen.add(child.id)
          queue.push([child.id, child.tree ? depth - 1 : 0, child.tree])
        }
      }
    }
    if (!this.live(signal)) return
    gathered?.flush()
    for (let i = 0; i < missing.length; i += MAX_DONT_HAVE) {
      this.sender.send({ t: 'dont-have', r: m.r, ids: missing.slice(i, i + MAX_DONT_HAVE) })
    }
    this.done(m.r, truncated)
  }

  private async range (m: RangeMessage, signal: AbortSignal): Promise<void> {
    let got: { size: number, data: Buffer } | null = null
    if (this.source?.readRange !== undefined) {
      try {
        got = await this.source.readRange(m.id, m.off, m.len, { signal })
      } catch (err) {
        if (!isGtfsError(err, 'ENOTFOUND')) log('reading %s at %d failed: %s', m.id, m.off, (err as Error).message)
      }
    }
    if (!this.live(signal)) return
    if (got === null || got.data.length !== Math.min(m.len, got.size - m.off) || got.data.length <= 0) {
      this.sender.send({ t: 'dont-have', r: m.r, ids: [m.id] })
    } else {
      await this.sendChunks(m.r, m.id, 'blob', got.data, signal, got.size, m.off)
      if (!this.live(signal)) return
    }
    this.done(m.r, false)
  }

  /**
   * The request leaves the open set before `done` goes out: the peer may send
   * its next request the moment it reads `done`, and must find a free slot.
   */
  private done (r: number, truncated: boolean): void {
    this.active.delete(r)
    this.sender.send({ t: 'done', r, truncated })
  }

  /** One whole object of a `want`: gathered when small and the peer takes `objects`, else in chunks (after what is gathered). */
  private async sendObject (gathered: Gathered | null, r: number, id: ObjectId, type: ObjectType, data: Buffer, signal: AbortSignal, zsize?: number): Promise<void> {
    if (gathered === null || data.length > BATCHED_OBJECT_BYTES) {
      gathered?.flush()
      await this.sendChunks(r, id, type, data, signal, data.length, 0, zsize)
      return
    }
    if (this.limiter !== undefined) {
      await this.limiter.take(data.length)
      if (!this.live(signal)) return
    }
    gathered.add(id, type, data, zsize)
    this.stats.bytesOut += data.length
    this.stats.objectsOut++
    if (this.sender.backpressured) await this.sender.drained()
  }

  /**
   * `data` is bytes [base, base + length) of an object of `total` bytes (a
   * range), or all of it; with `zsize`, all of a zlib stream inflating to that.
   */
  private async sendChunks (r: number, id: ObjectId, type: ObjectType, data: Buffer, signal: AbortSignal,
    total = data.length, base = 0, zsize?: number): Promise<void> {
    let off = 0
    do {
      const piece = data.subarray(off, off + CHUNK_BYTES)
      if (this.limiter !== undefined) {
        await this.limiter.take(piece.length)
        if (!this.live(signal)) return
      }
      this.sender.send({ t: 'object', r, id, type, off: base + off, total, data: piece, ...(zsize === undefined ? {} : { zsize }) })
      this.stats.bytesOut += piece.length
      off += piece.length
      if (this.sender.backpressured) await this.sender.drained()
      if (!this.live(signal)) return
    } while (off < data.length)
    this.stats.objectsOut++
  }

  private async state (m: StateReqMessage, signal: AbortSignal): Promise<void> {
    let state: RepoState | null = null
    if (this.stateSource !== undefined) {
      try {
        state = await this.stateSource.state(m.key, { signal })
      } catch (err) {
        log('state of %s failed: %s', m.key, (err as Error).message)
      }
    }
    if (state !== null) {
      const bytes = encodeState(state)
      let off = 0
      do {
        if (!this.live(signal)) return
        const data = bytes.subarray(off, off + CHUNK_BYTES)
        this.sender.send({ t: 'state', r: m.r, off, total: bytes.length, data })
        off += data.length
        if (this.sender.backpressured) await this.sender.drained()
      } while (off < bytes.length)
    }
    if (this.live(signal)) this.done(m.r, false)
  }
}

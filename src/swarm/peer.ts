/**
 * One connection to one peer, for one swarm (the repo's 20-byte infohash).
 *
 * Handshake: standard BitTorrent (BEP3) with the BEP10 bit, our peer id
 * `-GT0001-` + 12 random bytes; then the extended handshake (bittorrent-protocol
 * sends it, `m` naming `gtfs`), then the extension's `hello` both ways. An
 * outgoing peer names the swarm; an incoming one is matched to a swarm by the
 * infohash the remote names (`accept`), and answers only then, so a stock
 * BitTorrent client gets a valid handshake and extended handshake and is then
 * let go (it does not speak gtfs).
 *
 * Serving: ObjectServer (server.ts). Requesting: `fetch` and `fetchState`, at
 * most the peer's announced number of open requests, each with an idle deadline
 * (no message for it within `requestTimeoutMs` → cancel + ETIMEOUT) and the
 * caller's signal. Every object is hashed whole before `onObject` sees it.
 *
 * Objects as zlib streams: unless `zlib: false`, our hello says `zl: 1` (we
 * take them; each comes to `onObject` inflated and checked, with the stream as
 * `deflated`), and we send stored streams to peers whose hello says the same.
 * Likewise `objects: false` / `mo: 1` for `objects` messages (several small
 * whole objects in one).
 *
 * Any peer fault (bad encoding, cap, out-of-order, bad hash) ends the
 * connection: `warning` and `violation` are emitted with the error, every open
 * request rejects with it, and the owner (PeerPool) bans the address.
 *
 * Events: ready, warning (err), violation (err), timeout, close (reason).
 */
import { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import { GtfsError, ProtocolError, TimeoutError } from '../errors.ts'
import { isObjectId } from '../git/object-id.ts'
import { logger } from '../log.ts'
import type { AbortOptions, GitObject, ObjectId, ObjectSource } from '../types.ts'
import { GtfsExtension } from './extension.ts'
import {
  MAX_BATCH, MAX_DEPTH, MAX_OBJECT_BYTES, MAX_RANGE_BYTES, MAX_REQUEST_ID, MAX_REQUESTS, PROTOCOL_VERSION,
  isRepoKey, type HelloMessage, type Message, type RepoKey, type RepoState
} from './messages.ts'
import { RangeAssembly, StateAssembly, WantAssembly, type ReceivedObject } from './peer-request.ts'
import type { UploadLimiter } from './rate-limit.ts'
import { ObjectServer, type Sender, type StateSource } from './server.ts'
import { GtfsWire, newPeerId } from './wire.ts'

const log = logger('gtfs:swarm:peer')

/** What one connection serves and asks about. */
export interface SwarmContext {
  /** the repo's swarm id, 20 bytes */
  infoHash: Buffer
  /** repo keys announced in hello (hex) */
  repoKeys?: RepoKey[]
  source?: ObjectSource
  state?: StateSource
  /** caps what this node uploads, all peers together */
  limiter?: UploadLimiter
  /** this node publishes the repo: said in hello, so that requesters ask other peers first */
  origin?: boolean
}

export interface PeerOptions {
  /** outgoing connections: the swarm we join */
  context?: SwarmContext
  /** incoming connections: the swarm the remote names, or null to refuse it */
  accept?: (infoHash: string) => SwarmContext | null
  /** "host:port", for logs and bans */
  address?: string
  peerId?: Buffer
  /** bytes; objects announced larger are refused (ECAP) */
  maxObjectBytes?: number
  /** ms without a message for an open request before it is cancelled (ETIMEOUT) */
  requestTimeoutMs?: number
  /** ms from construction to both hellos exchanged */
  readyTimeoutMs?: number
  /** take and send objects as zlib streams (hello `zl: 1`; default true); false speaks as peers before it did */
  zlib?: boolean
  /** take and send small objects several to an `objects` message (hello `mo: 1`; default true); false speaks as peers before it did */
  objects?: boolean
}

/** A hash-checked object; `deflated`: the zlib stream it came as, a valid pack entry's data (stored as is). */
export type VerifiedObject = ReceivedObject

export interface PeerFetchOptions extends AbortOptions {
  /** 0: the ids only; N: each tree with everything under it to N levels */
  depth?: number
  /** with depth: the closure holds subtrees only, no blobs (a directory structure) */
  treesOnly?: boolean
  /** every object asked for is a commit, tree or tag: a blob, or one over MAX_NON_BLOB_BYTES, is the peer's lie */
  nonBlobs?: boolean
  /** idle deadline for this request, ms (default: the peer's requestTimeoutMs) */
  timeoutMs?: number
  /** sizes known in advance (from a catalog); an object announced with another size is refused (EBADSIZE) */
  sizeOf?: (id: ObjectId) => number | undefined
  /** receives each verified object as it completes; fetch resolves after every returned promise */
  onObject?: (obj: VerifiedObject) => void | Promise<void>
}

export interface PeerFetchResult {
  /** verified objects (empty when onObject was given) */
  objects: Map<ObjectId, GitObject>
  /** objects received, closure included */
  count: number
  /** requested ids the peer said it does not have */
  missing: ObjectId[]
  /** the peer cut the closure at its cap */
  truncated: boolean
  /** the closure arrived whole, as checked here (WantAssembly.whole); false without a depth */
  whole: boolean
  bytes: number
}

export interface PeerRangeOptions extends AbortOptions {
  /** the blob's size (the catalog's); a peer announcing another is refused (EBADSIZE) */
  size: number
  /** hex SHA-256 the range's bytes must have (the catalog's chunk hash; else EBADHASH) */
  sha256: string
  /** idle deadline for this request, ms (default: the peer's requestTimeoutMs) */
  timeoutMs?: number
}

interface Pending {
  r: number
  want: WantAssembly | null
  range: RangeAssembly | null
  state: StateAssembly | null
  idleMs: number
  timer: NodeJS.Timeout | undefined
  started: number
  onObject?: (obj: VerifiedObject) => void | Promise<void>
  objects: Map<ObjectId, GitObject>
  /** objects delivered and not yet taken by `onObject` (its writes included) */
  writing: number
  /** the answer, once `done` came and `writing` is 0 */
  written: (() => void) | undefined
  writeErr: unknown
  resolve: (v: unknown) => void
  reject: (err: unknown) => void
  unlisten: () => void
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000
export const DEFAULT_READY_TIMEOUT_MS = 10_000
const CANCELLED_MEMORY = 256

export class Peer extends EventEmitter {
  readonly wire = new GtfsWire()
  readonly address: string
  readonly peerId: Buffer
  readonly incoming: boolean
  context: SwarmContext | null
  remotePeerId: string | null = null
  /** bytes/s over completed requests (EWMA); 0 until measured */
  throughput = 0
  /** consecutive timed-out requests */
  timeouts = 0
  objectsIn = 0
  private ext!: GtfsExtension
  private server: ObjectServer | null = null
  private readonly pending = new Map<number, Pending>()
  private readonly cancelled = new Set<number>()
  private slotWaiters: Array<() => void> = []
  private nextR = 1
  /** slots reserved by requests about to open */
  private opening = 0
  private closeReason: Error | null = null
  private readyTimer: NodeJS.Timeout | undefined
  private stream: Duplex | null = null
  private readonly maxObjectBytes: number
  private readonly requestTimeoutMs: number
  private readonly zlib: boolean
  private readonly multiObjects: boolean
  private readonly accept?: (infoHash: string) => SwarmContext | null

  constructor (opts: PeerOptions) {
    super()
    if (opts.context === undefined && opts.accept === undefined) throw new TypeError('Peer needs a context (outgoing) or accept (incoming)')
    this.incoming = opts.context === undefined
    this.context = opts.context ?? null
    this.accept = opts.accept
    this.address = opts.address ?? 'memory'
    this.peerId = opts.peerId ?? newPeerId()
    this.maxObjectBytes = opts.maxObjectBytes ?? MAX_OBJECT_BYTES
    this.requestTimeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
    this.zlib = opts.zlib ?? true
    this.multiObjects = opts.objects ?? true

    const wire = this.wire
    wire.extendedHandshake = { v: 'gtfs 0.1.0', reqq: MAX_REQUESTS }
    wire.use(GtfsExtension.with({
      onCreate: ext => { this.ext = ext },
      hello: () => this.hello(),
      // the decoder refuses only the protocol's ceiling; this peer's own cap is
      // checked at an object's first chunk, as ECAP, before anything is buffered
      maxObjectBytes: Math.max(this.maxObjectBytes, MAX_OBJECT_BYTES)
    }))
    wire.on('handshake', (infoHash: string, peerId: string) => { this.onHandshake(infoHash, peerId) })
    wire.on('extended', (name: string) => {
      if (name === 'handshake' && !(wire.peerExtendedMapping.gtfs > 0)) this.destroy(new ProtocolError('EUNSUPPORTED', 'peer does not speak gtfs'))
    })
    wire.on('violation', (err: Error) => { this.violation(err) })
    for (const ev of ['close', 'finish', 'end']) wire.once(ev, () => { this.destroy() })
    wire.on('error', (err: Error) => { this.destroy(new ProtocolError('EPEERCLOSED', err.message)) })
    this.ext.on('hello', () => { this.onReady() })
    this.ext.on('message', (m: Message) => { this.dispatch(m) })
    this.ext.on('warning', (err: Error, fatal: boolean) => { if (fatal) this.violation(err); else this.emit('warning', err) })
    this.ext.on('unsupported', (why: string) => { this.destroy(new ProtocolError('EUNSUPPORTED', why)) })

    const readyMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS
    this.readyTimer = setTimeout(() => {
      this.destroy(new TimeoutError(`peer ${this.address}: no gtfs hello within ${readyMs} ms`))
    }, readyMs)
    if (this.context !== null) {
      this.server = this.newServer(this.context)
      wire.handshake(this.context.infoHash, this.peerId)
    }
  }

  get ready (): boolean { return this.ext.ready && this.closeReason === null }
  get closed (): boolean { return this.closeReason !== null }
  get reason (): Error | null { return this.closeReason }
  get remoteHello (): HelloMessage | null { return this.ext.remoteHello }
  /** requests open at this peer */
  get inflight (): number { return this.pending.size }
  get maxBatch (): number { return Math.min(MAX_BATCH, this.remoteHello?.maxBatch ?? MAX_BATCH) }
  get maxRequests (): number { return Math.min(MAX_REQUESTS, this.remoteHello?.maxRequests ?? 1) }
  /** the peer answers `range` requests (its hello says so) */
  get servesRanges (): boolean { return this.remoteHello?.ranges === true }
  /** both sides take objects as zlib streams */
  get zlibObjects (): boolean { return this.zlib && this.remoteHello?.zlib === true }
  /** both sides take `objects` messages */
  get batchedObjects (): boolean { return this.multiObjects && this.remoteHello?.objects === true }
  get stats (): { bytesIn: number, bytesOut: number, objectsIn: number, objectsOut: number } {
    return { bytesIn: this.wire.bytesIn, bytesOut: this.wire.bytesOut, objectsIn: this.objectsIn, objectsOut: this.server?.stats.objectsOut ?? 0 }
  }

  /** Connects a byte stream (a TCP socket) to this peer's wire, both ways. */
  attach (stream: Duplex): this {
    this.stream = stream
    stream.pipe(this.wire as unknown as NodeJS.WritableStream)
    this.wire.pipe(stream)
    stream.on('error', (err: Error) => { this.destroy(new ProtocolError('EPEERCLOSED', `peer ${this.address}: ${err.message}`)) })
    stream.on('close', () => { this.destroy() })
    return this
  }

  whenReady (opts: AbortOptions = {}): Promise<void> {
    if (this.ready) return Promise.resolve()
    if (this.closeReason !== null) return Promise.reject(this.closeReason)
    return new Promise((resolve, reject) => {
      const done = (err?: unknown): void => {
        this.off('ready', onReady)
        this.off('close', onClose)
        opts.signal?.removeEventListener('abort', onAbort)
        if (err === undefined) resolve(); else reject(err)
      }
      const onReady = (): void => { done() }
      const onClose = (reason: Error): void => { done(reason) }
      const onAbort = (): void => { done(opts.signal?.reason) }
      if (opts.signal?.aborted === true) { onAbort(); return }
      this.on('ready', onReady)
      this.on('close', onClose)
      opts.signal?.addEventListener('abort', onAbort)
    })
  }

  /**
   * Asks for `ids` (at most maxBatch). Resolves when the peer says done, with
   * the verified objects and the requested ids it did not send; rejects with
   * ETIMEOUT (idle deadline), the signal's reason, EBADHASH/EPROTO/ECAP (peer
   * fault; the peer is dropped) or EPEERCLOSED.
   */
  async fetch (ids: ObjectId[], opts: PeerFetchOptions = {}): Promise<PeerFetchResult> {
    const depth = opts.depth ?? 0
    if (!Number.isInteger(depth) || depth < 0 || depth > MAX_DEPTH) throw new RangeError(`depth ${depth} outside 0..${MAX_DEPTH}`)
    const uniq = [...new Set(ids)]
    if (uniq.length === 0) return { objects: new Map(), count: 0, missing: [], truncated: false, whole: false, bytes: 0 }
    for (const id of uniq) if (!isObjectId(id)) throw new TypeError(`not an object id: ${String(id)}`)
    await this.whenReady(opts)
    if (uniq.length > this.maxBatch) throw new RangeError(`${uniq.length} ids exceed the batch cap of ${this.maxBatch}`)
    const trees = opts.treesOnly === true
    const want = new WantAssembly(uniq, depth, this.maxObjectBytes, { sizeOf: opts.sizeOf, treesOnly: trees, nonBlobs: opts.nonBlobs, takesZlib: this.zlib })
    const result = await this.request(opts, { want }, r => ({ t: 'want', r, ids: uniq, depth, trees }))
    return result as PeerFetchResult
  }

  /**
   * Asks for bytes [off, off+len) of blob `id` (only of a peer that
   * `servesRanges`). Resolves with the bytes, checked against `sha256`, or
   * null when the peer says it does not have the blob; rejects as `fetch` does.
   */
  async fetchRange (id: ObjectId, off: number, len: number, opts: PeerRangeOptions): Promise<Buffer | null> {
    if (!isObjectId(id)) throw new TypeError(`not an object id: ${String(id)}`)
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(len) || off < 0 || len < 1 || len > MAX_RANGE_BYTES || off + len > opts.size) {
      throw new RangeError(`range ${off}+${len} of a ${opts.size}-byte blob`)
    }
    await this.whenReady(opts)
    if (!this.servesRanges) throw new ProtocolError('EUNSUPPORTED', `peer ${this.address} does not answer ranges`)
    if (opts.size > this.maxObjectBytes) throw new RangeError(`blob of ${opts.size} bytes over this peer's cap of ${this.maxObjectBytes}`)
    const range = new RangeAssembly(id, off, len, opts.size, opts.sha256)
    return await this.request(opts, { range }, r => ({ t: 'range', r, id, off, len })) as Buffer | null
  }

  /** The repo's signed state as this peer holds it, or null when it does not serve the repo. */
  async fetchState (key: RepoKey, opts: AbortOptions & { timeoutMs?: number } = {}): Promise<RepoState | null> {
    if (!isRepoKey(key)) throw new TypeError(`not a repo key: ${String(key)}`)
    await this.whenReady(opts)
    return await this.request(opts, { state: new StateAssembly() }, r => ({ t: 'state-req', r, key })) as RepoState | null
  }

  destroy (err?: Error): void {
    this.close(err, false)
  }

  /** Ends the connection; a fault also emits `warning` and `violation` (after the state is closed, before `close`). */
  private close (err: Error | undefined, fault: boolean): void {
    if (this.closeReason !== null) return
    this.closeReason = err ?? new ProtocolError('EPEERCLOSED', `peer ${this.address} closed the connection`)
    log('%s closed: %s', this.address, this.closeReason.message)
    clearTimeout(this.readyTimer)
    for (const p of this.pending.values()) {
      clearTimeout(p.timer)
      p.unlisten()
      p.reject(this.closeReason)
    }
    this.pending.clear()
    this.wakeSlots()
    this.server?.close()
    this.wire.destroy()
    this.stream?.destroy()
    if (fault) {
      this.emit('warning', this.closeReason)
      this.emit('violation', this.closeReason)
    }
    this.emit('close', this.closeReason)
  }

  private violation (err: Error): void {
    if (this.closeReason !== null) return
    log('%s misbehaved: %s', this.address, err.message)
    this.close(err, true)
  }

  private hello (): HelloMessage {
    return { t: 'hello', versions: [PROTOCOL_VERSION], keys: this.context?.repoKeys ?? [], maxRequests: MAX_REQUESTS, maxBatch: MAX_BATCH, ...(this.context?.origin === true ? { origin: true } : {}), ...(this.context?.source?.readRange !== undefined ? { ranges: true } : {}), ...(this.zlib ? { zlib: true } : {}), ...(this.multiObjects ? { objects: true } : {}) }
  }

  private newServer (ctx: SwarmContext): ObjectServer {
    const wire = this.wire
    const isClosed = (): boolean => this.closed
    const takesZlib = (): boolean => this.zlibObjects
    const takesObjects = (): boolean => this.batchedObjects
    const sender: Sender = {
      send: m => this.ext.send(m),
      drained: () => this.wire.drained(),
      get backpressured () { return wire.backpressured },
      get closed () { return isClosed() },
      get takesZlib () { return takesZlib() },
      get takesObjects () { return takesObjects() }
    }
    return new ObjectServer(sender, ctx.source, ctx.state, undefined, ctx.limiter)
  }

  private onHandshake (infoHash: string, peerId: string): void {
    this.remotePeerId = peerId
    if (peerId === this.peerId.toString('hex')) { this.destroy(new ProtocolError('ESELF', 'connected to ourselves')); return }
    if (this.context !== null) {
      if (!this.incoming && infoHash !== this.context.infoHash.toString('hex')) {
        this.violation(new ProtocolError('EPROTO', `peer answered for swarm ${infoHash}`))
      }
      return
    }
    const ctx = this.accept?.(infoHash) ?? null
    if (ctx === null) { this.destroy(new ProtocolError('ENOSWARM', `no swarm ${infoHash} here`)); return }
    this.context = ctx
    this.server = this.newServer(ctx)
    this.wire.handshake(ctx.infoHash, this.peerId)
  }

  private onReady (): void {
    clearTimeout(this.readyTimer)
    this.wire.setKeepAlive(true) // BEP3 keep-alive every 55 s, so idle stock peers keep us
    log('%s ready (peer %s)', this.address, this.remotePeerId)
    this.emit('ready')
  }

  private dispatch (m: Message): void {
    if (m.t === 'want' || m.t === 'range' || m.t === 'state-req' || m.t === 'cancel') {
      try {
        if (this.server === null) throw new ProtocolError('EPROTO', `${m.t} before the handshake`)
        this.server.handle(m)
      } catch (err) {
        this.violation(err as Error)
      }
      return
    }
    if (m.t === 'hello') return // the extension refuses a second one
    const p = this.pending.get(m.r)
    if (p === undefined) {
      // answers to a request we cancelled may still be on the way
      if (!this.cancelled.has(m.r)) this.violation(new ProtocolError('EPROTO', `${m.t} for request ${m.r}, which we never made`))
      return
    }
    this.touch(p)
    try {
      switch (m.t) {
        case 'object': {
          if (p.range !== null) {
            if (p.range.accept(m) !== null) this.objectsIn++
            return
          }
          if (p.want === null) throw new ProtocolError('EPROTO', `object for state request ${m.r}`)
          const obj = p.want.accept(m)
          if (obj !== null) this.deliver(p, obj)
          return
        }
        case 'objects': {
          if (!this.multiObjects) throw new ProtocolError('EPROTO', 'objects message, which we did not offer to take')
          if (p.want === null) throw new ProtocolError('EPROTO', `objects for a ${p.range !== null ? 'range' : 'state'} request ${m.r}`)
          for (const o of m.items) {
            const obj = p.want.accept(o)
            if (obj !== null) this.deliver(p, obj)
          }
          return
        }
        case 'state':
          if (p.state === null) throw new ProtocolError('EPROTO', `state for object request ${m.r}`)
          p.state.accept(m)
          return
        case 'dont-have':
          p.want?.dontHave(m.ids)
          p.range?.dontHave(m.ids)
          return
        case 'done':
          this.finish(p, m.truncated)
      }
    } catch (err) {
      this.violation(err as Error)
    }
  }

  /**
   * Hands a verified object to the request's caller. One still being verified
   * (a zlib stream, on a worker) is handed over when it is; if it fails, the
   * peer lied: the request fails with its error and the peer is dropped.
   */
  private deliver (p: Pending, obj: VerifiedObject | Promise<VerifiedObject>): void {
    p.writing++
    if (!(obj instanceof Promise)) {
      queueMicrotask(() => { this.handOver(p, obj) })
      return
    }
    obj.then(o => { this.handOver(p, o) }, (err: Error) => {
      p.writeErr ??= err
      this.violation(err)
      this.taken(p)
    })
  }

  /**
   * Into the request's result, or to `onObject` (always on a later tick than
   * the message that brought it). The caller's failure to take an object is
   * its own: the request fails with it, the peer stays. Nothing keeps a
   * promise per object: a cold read's objects each held three until their
   * request was done, and they outlived the young generation.
   */
  private handOver (p: Pending, obj: VerifiedObject): void {
    this.objectsIn++
    const fn = p.onObject
    if (fn === undefined) { p.objects.set(obj.id, { type: obj.type, data: obj.data }); this.taken(p); return }
    let write: void | Promise<void>
    try {
      write = fn(obj)
    } catch (err) {
      p.writeErr ??= err
      this.taken(p)
      return
    }
    if (write === undefined) { this.taken(p); return }
    write.then(() => { this.taken(p) }, (err: unknown) => { p.writeErr ??= err; this.taken(p) })
  }

  /** One object of `p` taken (or failed): the answer goes once all are and `done` came. */
  private taken (p: Pending): void {
    if (--p.writing === 0) p.written?.()
  }

  private finish (p: Pending, truncated: boolean): void {
    if (p.range !== null) {
      const ok = p.range.finish()
      this.settle(p)
      this.timeouts = 0
      this.measure(p, p.range.bytes)
      p.resolve(ok ? p.range.result : null)
      return
    }
    const result = p.want !== null ? p.want.finish() : p.state?.finish() ?? null
    this.settle(p)
    this.timeouts = 0
    if (p.want !== null) this.measure(p, p.want.bytes)
    if (p.want === null) { p.resolve(result); return }
    const want = p.want
    p.written = () => {
      if (p.writeErr !== undefined) { p.reject(p.writeErr); return }
      p.resolve({ objects: p.objects, count: want.objects, missing: result as ObjectId[], truncated, whole: want.whole, bytes: want.bytes })
    }
    if (p.writing === 0) p.written()
  }

  private measure (p: Pending, bytes: number): void {
    if (bytes === 0) return
    const sample = bytes * 1000 / Math.max(1, Date.now() - p.started)
    this.throughput = this.throughput === 0 ? sample : 0.7 * this.throughput + 0.3 * sample
  }

  /** Removes a request from the open set (answered, cancelled or failed). */
  private settle (p: Pending): void {
    clearTimeout(p.timer)
    p.unlisten()
    this.pending.delete(p.r)
    this.wakeSlots()
  }

  private cancel (p: Pending, err: unknown): void {
    this.settle(p)
    this.cancelled.add(p.r)
    if (this.cancelled.size > CANCELLED_MEMORY) this.cancelled.delete(this.cancelled.values().next().value as number)
    this.ext.send({ t: 'cancel', r: p.r })
    p.reject(err)
  }

  /**
   * The request saw activity: its idle deadline starts over. One timer per
   * request, re-armed in place (a new one per message was 9 MiB of garbage in
   * a cold read of 50,000 objects).
   */
  private touch (p: Pending): void {
    if (p.timer !== undefined) { p.timer.refresh(); return }
    p.timer = setTimeout(() => {
      this.timeouts++
      this.emit('timeout')
      this.cancel(p, new TimeoutError(`peer ${this.address}: request ${p.r} idle for ${p.idleMs} ms`))
    }, p.idleMs)
  }

  private wakeSlots (): void {
    const w = this.slotWaiters
    this.slotWaiters = []
    for (const fn of w) fn()
  }

  /** Waits for room under the peer's request cap and reserves it (released when the request is opened). */
  private async slot (signal: AbortSignal | undefined): Promise<void> {
    while (this.pending.size + this.opening >= this.maxRequests) {
      if (this.closeReason !== null) throw this.closeReason
      signal?.throwIfAborted()
      await new Promise<void>(resolve => {
        const wake = (): void => { signal?.removeEventListener('abort', wake); resolve() }
        this.slotWaiters.push(wake)
        signal?.addEventListener('abort', wake)
      })
    }
    if (this.closeReason !== null) throw this.closeReason
    signal?.throwIfAborted()
    this.opening++
  }

  private async request (opts: PeerFetchOptions, what: { want?: WantAssembly, range?: RangeAssembly, state?: StateAssembly },
    msg: (r: number) => Message): Promise<unknown> {
    await this.slot(opts.signal)
    this.opening--
    const r = this.nextR
    this.nextR = this.nextR + 1 >= MAX_REQUEST_ID ? 1 : this.nextR + 1
    return await new Promise((resolve, reject) => {
      const signal = opts.signal
      const onAbort = (): void => { this.cancel(p, signal?.reason) }
      const p: Pending = {
        r,
        want: what.want ?? null,
        range: what.range ?? null,
        state: what.state ?? null,
        idleMs: opts.timeoutMs ?? this.requestTimeoutMs,
        timer: undefined,
        started: Date.now(),
        onObject: opts.onObject,
        objects: new Map(),
        writing: 0,
        written: undefined,
        writeErr: undefined,
        resolve,
        reject,
        unlisten: () => { signal?.removeEventListener('abort', onAbort) }
      }
      this.pending.set(r, p)
      signal?.addEventListener('abort', onAbort)
      this.touch(p)
      if (!this.ext.send(msg(r))) this.cancel(p, this.closeReason ?? new GtfsError('EPEERCLOSED', `peer ${this.address} cannot take requests`))
    })
  }
}

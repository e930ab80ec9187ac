/**
 * bittorrent-protocol's Wire with the two things it lacks (see DESIGN.md, "Wire"):
 *
 * - an inbound frame cap. The stock Wire buffers whatever length prefix a peer
 *   announces (up to 4 GiB) before looking at it. `_write` here scans the
 *   framing itself (68-byte handshake, then 4-byte length + body) without
 *   copying, and refuses a frame over `maxFrameBytes` before a byte of it is
 *   buffered: the wire emits `violation` (ProtocolError ECAP) and drops the rest.
 * - an outbound backpressure signal. The stock Wire ignores `push()`'s result.
 *   `push` here records it, and streamx calls `_read` when the queue has drained
 *   below its high-water mark (16 KiB), which resolves `drained()`. A sender
 *   that awaits `drained()` whenever `backpressured` is set keeps at most one
 *   frame plus the high-water mark queued here, on top of the socket's own buffer.
 *
 * Both use only the subclassing hooks streamx documents (`_write`, `_read`,
 * `push`), not its internals. Encryption (MSE) stays off: gtfs content is public
 * and hash-checked, and the scanner reads plaintext framing.
 */
import Wire from 'bittorrent-protocol'
import { randomBytes } from 'node:crypto'
import { ProtocolError } from '../errors.ts'
import { MAX_FRAME_BYTES } from './messages.ts'

/** Azureus-style peer id prefix: client "GT", version 0.1 */
export const PEER_ID_PREFIX = '-GT0001-'

export function newPeerId (): Buffer {
  return Buffer.concat([Buffer.from(PEER_ID_PREFIX, 'latin1'), randomBytes(20 - PEER_ID_PREFIX.length)])
}

const HANDSHAKE_BYTES = 1 + 19 + 8 + 20 + 20

export interface ScanResult {
  /** offset just past the first frame that ends in the chunk, or -1 */
  first: number
  /** offset just past the last frame that ends in the chunk, or -1 */
  last: number
  /** length of an oversized frame announced in the chunk, or -1 */
  over: number
}

/** Follows BitTorrent framing (the handshake, then length-prefixed messages) across chunks. */
export class FrameScanner {
  private skip = HANDSHAKE_BYTES
  private readonly len = Buffer.alloc(4)
  private lenFill = 0

  constructor (readonly maxFrameBytes: number) {}

  feed (chunk: Uint8Array): ScanResult {
    let i = 0
    let first = -1
    let last = -1
    const n = chunk.length
    while (i < n) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, n - i)
        this.skip -= k
        i += k
        if (this.skip === 0) { if (first < 0) first = i; last = i }
        continue
      }
      this.len[this.lenFill++] = chunk[i++]
      if (this.lenFill === 4) {
        this.lenFill = 0
        const frame = this.len.readUInt32BE(0)
        if (frame > this.maxFrameBytes) return { first, last, over: frame }
        this.skip = frame
        if (frame === 0) { if (first < 0) first = i; last = i } // keep-alive
      }
    }
    return { first, last, over: -1 }
  }
}

/** outbound parts smaller than this are gathered into one buffer; a turn's gathering leaves at COALESCE_BYTES */
const COALESCE_PART_BYTES = 16 * 1024
const COALESCE_BYTES = 256 * 1024

export class GtfsWire extends Wire {
  bytesIn = 0
  bytesOut = 0
  /** set when push() reported a full queue, cleared when streamx asks for more */
  backpressured = false
  private scanner: FrameScanner
  private refused = false
  private ended = false
  private held: Uint8Array[] = []
  private waiters: Array<() => void> = []
  /** small outbound parts waiting to leave as one buffer (see queue) */
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private flushScheduled = false
  private flushing = false

  constructor (maxFrameBytes = MAX_FRAME_BYTES) {
    super('', 0)
    this.scanner = new FrameScanner(maxFrameBytes)
    const release = (): void => { this.ended = true; this.release() }
    this.once('close', release)
    this.once('finish', release)
    this.once('end', release)
  }

  /**
   * Hands the stock parser whole frames only. It joins its leftover bytes with
   * each new chunk (a copy of up to a frame per socket read); fed on frame
   * boundaries it never holds leftovers, so only a frame split across reads is
   * copied, once, here.
   */
  override _write (data: Uint8Array, cb: (err?: Error | null) => void): void {
    if (this.refused) { cb(null); return }
    this.bytesIn += data.length
    const { first, last, over } = this.scanner.feed(data)
    if (over >= 0) {
      this.refused = true
      this.held = []
      cb(null)
      this.emit('violation', new ProtocolError('ECAP', `peer sent a ${over}-byte frame, cap ${this.scanner.maxFrameBytes}`))
      this.destroy()
      return
    }
    const noop = (): void => {}
    if (first < 0) {
      this.held.push(data)
    } else {
      if (this.held.length > 0) {
        this.held.push(data.subarray(0, first))
        super._write(Buffer.concat(this.held), noop)
        this.held = []
      } else {
        super._write(data.subarray(0, first), noop)
      }
      if (last > first) super._write(data.subarray(first, last), noop)
      if (last < data.length) this.held.push(data.subarray(last))
    }
    cb(null)
  }

  /**
   * An extended message (BEP10, id 20) from parts, without joining them:
   * `wire.extended()` would copy the payload twice.
   */
  sendExtended (ext: number, parts: Uint8Array[]): void {
    if (this.ended || this.destroyed || this.destroying) return
    let len = 2
    for (const p of parts) len += p.length
    // the 6-byte header rides with the first part when that part is small, to save a write
    const lead = parts.length > 0 && parts[0].length <= 1024 ? parts[0] : null
    const head = Buffer.allocUnsafe(6 + (lead?.length ?? 0))
    head.writeUInt32BE(len, 0)
    head[4] = 20
    head[5] = ext
    if (lead !== null) head.set(lead, 6)
    this.queue(head)
    for (let i = lead !== null ? 1 : 0; i < parts.length; i++) this.queue(parts[i])
  }

  /**
   * Small parts are gathered and leave together, once per turn of the event
   * loop or per COALESCE_BYTES: each push becomes a socket write, and a seeder
   * answering with thousands of small objects spent 14% of its CPU in write
   * syscalls of three parts per object. Large parts leave as they are (after
   * what is gathered, in order), with no copy.
   */
  private queue (data: Uint8Array): void {
    if (data.length >= COALESCE_PART_BYTES) {
      this.flush()
      this.push(data)
      return
    }
    this.pending.push(data)
    this.pendingBytes += data.length
    if (this.pendingBytes >= COALESCE_BYTES) {
      this.flush()
    } else if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(() => {
        this.flushScheduled = false
        this.flush()
      })
    }
  }

  /** Sends what is gathered now. */
  flush (): void {
    if (this.pending.length === 0) return
    const out = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending, this.pendingBytes)
    this.pending = []
    this.pendingBytes = 0
    if (this.destroyed || this.destroying) return
    this.flushing = true
    try {
      this.push(out)
    } finally {
      this.flushing = false
    }
  }

  override push (data: Uint8Array | null): boolean {
    // Anything else pushed (the protocol's own messages, the end) goes after what is gathered.
    if (!this.flushing && this.pending.length > 0) this.flush()
    const ok = super.push(data)
    if (data !== null) {
      this.bytesOut += data.length
      if (!ok) this.backpressured = true
    }
    return ok
  }

  override _read (cb: (err?: Error | null) => void): void {
    cb(null)
    if (this.backpressured) {
      this.backpressured = false
      this.release()
    }
  }

  /** Resolves once the outbound queue is below its high-water mark, or the wire is closing. */
  drained (): Promise<void> {
    if (!this.backpressured || this.destroyed || this.destroying) return Promise.resolve()
    return new Promise(resolve => { this.waiters.push(resolve) })
  }

  private release (): void {
    const w = this.waiters
    this.waiters = []
    for (const fn of w) fn()
  }
}

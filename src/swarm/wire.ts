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

/** Follows BitTorrent framing across chunks; reports the first frame over the cap. */
export class FrameScanner {
  private skip = HANDSHAKE_BYTES
  private readonly len = Buffer.alloc(4)
  private lenFill = 0

  constructor (readonly maxFrameBytes: number) {}

  /** The length of the first oversized frame that starts in `chunk`, or -1. */
  feed (chunk: Uint8Array): number {
    let i = 0
    const n = chunk.length
    while (i < n) {
      if (this.skip > 0) {
        const k = Math.min(this.skip, n - i)
        this.skip -= k
        i += k
        continue
      }
      this.len[this.lenFill++] = chunk[i++]
      if (this.lenFill === 4) {
        this.lenFill = 0
        const frame = this.len.readUInt32BE(0)
        if (frame > this.maxFrameBytes) return frame
        this.skip = frame
      }
    }
    return -1
  }
}

export class GtfsWire extends Wire {
  bytesIn = 0
  bytesOut = 0
  /** set when push() reported a full queue, cleared when streamx asks for more */
  backpressured = false
  private scanner: FrameScanner
  private refused = false
  private waiters: Array<() => void> = []

  constructor (maxFrameBytes = MAX_FRAME_BYTES) {
    super('', 0)
    this.scanner = new FrameScanner(maxFrameBytes)
    const release = (): void => { this.release() }
    this.once('close', release)
    this.once('finish', release)
    this.once('end', release)
  }

  override _write (data: Uint8Array, cb: (err?: Error | null) => void): void {
    if (this.refused) { cb(null); return }
    this.bytesIn += data.length
    const over = this.scanner.feed(data)
    if (over >= 0) {
      this.refused = true
      cb(null)
      this.emit('violation', new ProtocolError('ECAP', `peer sent a ${over}-byte frame, cap ${this.scanner.maxFrameBytes}`))
      this.destroy()
      return
    }
    super._write(data, cb)
  }

  override push (data: Uint8Array | null): boolean {
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

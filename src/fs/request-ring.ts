/**
 * How FUSE requests cross from the thread that reads /dev/fuse to the main
 * thread (dev-fuse.ts): a ring in shared memory, and a wake-up message only
 * when the main thread has said it is idle.
 *
 * Before, each request went over as a Uint8Array of its own, moved with
 * postMessage: a malloc'd backing store, its registration and transfer, a
 * message event on the main thread, and a scavenger's sweep of the buffer
 * afterwards, for each of the ~160,000 requests of a cold read of the bench's
 * wide tree. Now a request is copied into the ring, and the main thread, once
 * woken, takes every request there before it says it is idle again: a busy
 * main thread reads a run of requests per wake-up. Between two requests it
 * lets the promise jobs the first one queued run (a reply after a lookup in
 * memory): taken back to back, 64 at a time, replies waited for the whole
 * run, the kernel found its queue of background requests congested and
 * skipped readahead, and a cold read of the wide tree made 76,654 READs for
 * its 50,000 files instead of 50,000.
 *
 * Layout: an Int32Array of CONTROL words, then RING_BYTES of data. WRITTEN and
 * TAKEN count bytes (modulo 2^32) the worker has put in and the main thread
 * taken out; a record is a 32-bit length and the request, padded to 4 bytes,
 * and may wrap around the end of the ring. IDLE is 1 while the main thread
 * waits for a message (the worker swaps it to 0 and sends one); SPACE_WAIT is
 * 1 while the worker waits for room (the main thread then notifies TAKEN).
 * The worker side is plain JavaScript in WORKER_RING (it runs in an eval'd
 * worker), written against the same constants.
 */

export const RING_BYTES = 256 * 1024
const MASK = RING_BYTES - 1
export const WRITTEN = 0
export const TAKEN = 1
export const IDLE = 2
const SPACE_WAIT = 3
export const CONTROL = 4
/** requests taken in one go before the main thread lets other events in */
const TURN = 64

/** The ring's shared memory, the main thread's idle flag set. */
export function newRing (): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(CONTROL * 4 + RING_BYTES)
  new Int32Array(sab, 0, CONTROL)[IDLE] = 1
  return sab
}

/**
 * The worker's half, for an eval'd worker: `ringPut(ring, buf, n)` copies
 * bytes [0, n) of `buf` in (waiting while the ring is full) and wakes the main
 * thread if it is idle. Expects `parentPort` in scope.
 */
export const WORKER_RING = `
let ringCtl, ringData
function ringPut (sab, buf, n) {
  if (ringCtl === undefined) { ringCtl = new Int32Array(sab, 0, ${CONTROL}); ringData = Buffer.from(sab, ${CONTROL * 4}, ${RING_BYTES}) }
  const size = 4 + ((n + 3) & ~3)
  const w = Atomics.load(ringCtl, ${WRITTEN})
  for (;;) {
    const taken = Atomics.load(ringCtl, ${TAKEN})
    if (${RING_BYTES} - ((w - taken) | 0) >= size) break
    Atomics.store(ringCtl, ${SPACE_WAIT}, 1)
    Atomics.wait(ringCtl, ${TAKEN}, taken, 100)
    Atomics.store(ringCtl, ${SPACE_WAIT}, 0)
  }
  const at = w & ${MASK}
  ringData.writeInt32LE(n, at)
  const start = (at + 4) & ${MASK}
  const first = Math.min(n, ${RING_BYTES} - start)
  buf.copy(ringData, start, 0, first)
  if (first < n) buf.copy(ringData, 0, first, n)
  Atomics.store(ringCtl, ${WRITTEN}, (w + size) | 0)
  if (Atomics.exchange(ringCtl, ${IDLE}, 0) === 1) parentPort.postMessage(0)
}
`

/** The main thread's half: takes requests out of the ring in order. */
export class RingReader {
  private readonly ctl: Int32Array
  private readonly data: Buffer
  private taken = 0
  /** a request that wraps around the end of the ring is copied here */
  private readonly scratch: Buffer
  private draining = false

  /**
   * `handle` must be done with the request's bytes when it returns (they are
   * reused); what it throws goes to `fail`, and the next request is taken.
   */
  constructor (sab: SharedArrayBuffer, private readonly handle: (req: Buffer) => void, private readonly fail: (err: unknown) => void, maxRequest: number) {
    this.ctl = new Int32Array(sab, 0, CONTROL)
    this.data = Buffer.from(sab, CONTROL * 4, RING_BYTES)
    this.scratch = Buffer.allocUnsafe(maxRequest)
  }

  /**
   * Takes what is in the ring, then says the main thread is idle, unless more
   * came meanwhile. After TURN requests it goes on in a later turn of the
   * event loop (still not idle: the worker sends no message meanwhile). A
   * drain already under way takes what came too.
   */
  drain (): void {
    if (this.draining) return
    this.draining = true
    this.run().catch(this.fail).finally(() => { this.draining = false })
  }

  private async run (): Promise<void> {
    let n = 0
    for (;;) {
      const written = Atomics.load(this.ctl, WRITTEN)
      while (this.taken !== written) {
        if (n++ === TURN) { setImmediate(() => { this.drain() }); return }
        this.takeOne()
        // its promise jobs are queued ahead of this one (see the module comment)
        await undefined
      }
      Atomics.store(this.ctl, IDLE, 1)
      if (Atomics.load(this.ctl, WRITTEN) === this.taken) return
      Atomics.store(this.ctl, IDLE, 0)
    }
  }

  private takeOne (): void {
    const at = this.taken & MASK
    const len = this.data.readInt32LE(at)
    const start = (at + 4) & MASK
    let req: Buffer
    if (start + len <= RING_BYTES) {
      req = this.data.subarray(start, start + len)
    } else {
      const first = RING_BYTES - start
      this.data.copy(this.scratch, 0, start, RING_BYTES)
      this.data.copy(this.scratch, first, 0, len - first)
      req = this.scratch.subarray(0, len)
    }
    try {
      this.handle(req)
    } catch (err) {
      this.fail(err)
    }
    this.taken = (this.taken + 4 + ((len + 3) & ~3)) | 0
    Atomics.store(this.ctl, TAKEN, this.taken)
    if (Atomics.load(this.ctl, SPACE_WAIT) === 1) Atomics.notify(this.ctl, TAKEN)
  }
}

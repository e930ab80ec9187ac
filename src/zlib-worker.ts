/**
 * The process's zlib work off the main thread (which parses the wire and
 * answers FUSE): one worker thread, shared by the store (deflating a pack's
 * objects) and the swarm (inflating and hashing the zlib streams peers send).
 * One thread, not one per user: each is a V8 isolate of its own (memory is the
 * `rss` figure), and the machine this runs on may have two cores.
 *
 * Measured on this machine (5,000 blobs of 1-16 KiB, 43 MB, from the bench's
 * wide fixture, under load): deflateSync level 1 in a loop 1.4 s; zlib's async
 * API with every object at once 8.6 s (one zlib context of ~256 KiB each, all
 * alive together, on a 4-thread pool). The worker runs the synchronous loop.
 * A reader's main thread spent 3.7 s of a 26 s cold walk inflating streams
 * before they moved here.
 *
 * The worker thread runs at nice 10 (Linux: nice is per thread): what it does
 * is ahead of need (warming, store/warm.ts) or behind the wire, never a FUSE
 * answer itself, and on two cores it competed with the threads that give them.
 *
 * The worker is plain JavaScript (eval): it needs no TypeScript loader. It is
 * started on the first call and keeps the process alive only while a call is
 * open; if it dies, every open call fails and the next one starts a new one.
 */
import { Worker } from 'node:worker_threads'
import { WorkerCalls } from './worker-calls.ts'

const WORKER = `
const { parentPort } = require('node:worker_threads')
const { deflateSync, inflateSync } = require('node:zlib')
const { createHash } = require('node:crypto')
// below the threads that answer FUSE (Linux: nice is per thread; thread-self names this one)
try { require('node:os').setPriority(Number(require('node:fs').readlinkSync('/proc/thread-self').split('/').pop()), 10) } catch {}
const own = b => b.buffer.byteLength === b.length && b.byteOffset === 0 ? b : Buffer.from(b)
function deflate ({ id, level, items }) {
  const out = items.map(b => own(deflateSync(b, { level })))
  parentPort.postMessage({ id, out }, out.map(d => d.buffer))
}
const TYPES = ['', 'commit', 'tree', 'blob', 'tag']
// One inflate engine for every stream, reset between them, writing straight
// into the stream's slot of the output: inflateSync built a zlib context per
// stream (50,000 in a cold read of the wide tree), gathered the output in
// buffers of its own and we copied it into the slot (a cold read's worker:
// ~1 s of its ~4.8 s in those three). This uses the Inflate stream's native
// handle as inflateSync itself does (writeSync, the write state, reset); where
// a Node lacks those, or GTFS_ZLIB_PLAIN=1, each stream takes inflateSync.
const { Inflate, constants: { Z_FINISH } } = require('node:zlib')
let engine = null
let kError
const direct = (() => {
  if (process.env.GTFS_ZLIB_PLAIN === '1') return false
  try {
    const z = new Inflate()
    kError = Object.getOwnPropertySymbols(z).find(s => s.description === 'kError')
    const ok = typeof z._handle?.writeSync === 'function' && z._writeState instanceof Uint32Array && typeof z.reset === 'function' && kError !== undefined
    z.close()
    return ok
  } catch { return false }
})()
const spare = Buffer.alloc(1)
function tooLarge (size) {
  return Object.assign(new Error('Cannot create a Buffer larger than ' + Math.max(1, size) + ' bytes'), { code: 'ERR_BUFFER_TOO_LARGE' })
}
// inflates \`input\` (one zlib stream, Z_FINISH as inflateSync) into out[at, at + size):
// [bytes out, stream bytes taken]; throws zlib's error, or ERR_BUFFER_TOO_LARGE
// for more than \`size\` bytes (inflateSync's maxOutputLength is at least 1).
function inflateInto (input, out, at, size) {
  if (!direct) {
    const r = inflateSync(input, { maxOutputLength: Math.max(1, size), info: true })
    if (r.buffer.length > size) throw tooLarge(size)
    r.buffer.copy(out, at)
    return [r.buffer.length, r.engine.bytesWritten]
  }
  if (engine === null) {
    engine = new Inflate()
    engine.on('error', () => {}) // a failed write destroys the stream; the error is read below
  } else {
    engine.reset()
  }
  const z = engine
  const state = z._writeState
  // a failed engine is closed (its zlib context freed now, not at a GC) and made anew
  const fail = () => { const err = z[kError]; engine = null; z.close(); return err }
  z._handle.writeSync(Z_FINISH, input, 0, input.length, out, at, size)
  if (z[kError]) throw fail()
  const len = size - state[0]
  if (state[0] === 0) {
    // the slot is full: the stream must end here, with no byte more
    const rest = input.length - state[1]
    z._handle.writeSync(Z_FINISH, input, rest, input.length - rest, spare, 0, 1)
    if (z[kError]) throw fail()
    if (state[0] === 0) throw tooLarge(size)
  }
  return [len, input.length - state[1]]
}
// each stream (a slice of one of the input buffers) inflated as zlib-object.ts's
// inflateExact does, into its slot of one output buffer (slots of the
// announced sizes, in order), then hashed after its git header and compared
// with its id. Per item: the inflated length (-1: failed) and the stream bytes
// inflate took; a failure or another hash in \`bad\`. The input buffers and the
// output go back.
function inflateHash ({ id, inputs, segs, offs, sizes, types, ids }) {
  const inp = inputs.map(u => Buffer.from(u.buffer, u.byteOffset, u.byteLength))
  const n = sizes.length
  let total = 0
  for (let i = 0; i < n; i++) total += sizes[i]
  const out = Buffer.allocUnsafeSlow(total)
  const lens = new Int32Array(n)
  const used = new Int32Array(n)
  const bad = {}
  let at = 0
  for (let i = 0; i < n; i++) {
    const size = sizes[i]
    try {
      const r = inflateInto(inp[segs[i]].subarray(offs[2 * i], offs[2 * i + 1]), out, at, size)
      const len = r[0]
      lens[i] = len
      used[i] = r[1]
      if (len === size) {
        const hash = createHash('sha1').update(TYPES[types[i]] + ' ' + size + '\0').update(out.subarray(at, at + len)).digest('hex')
        if (hash !== ids.slice(40 * i, 40 * i + 40)) bad[i] = { hash }
      }
    } catch (err) {
      lens[i] = -1
      bad[i] = { code: err && err.code, message: String(err && err.message || err) }
    }
    at += size
  }
  parentPort.postMessage({ id, inputs, data: out, lens, used, bad }, [...inputs.map(u => u.buffer), out.buffer, lens.buffer, used.buffer])
}
parentPort.on('message', m => {
  try {
    if (m.op === 'deflate') deflate(m); else if (m.op === 'mode') parentPort.postMessage({ id: m.id, direct }); else inflateHash(m)
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err) })
  }
})
`

/** the worker's answer: `out` (deflate), or inflate's buffers and results, or `error` */
interface Answer { id: number, error?: string, direct?: boolean, out?: unknown[], inputs?: Uint8Array[], data?: Uint8Array, lens?: Int32Array, used?: Int32Array, bad?: Record<number, { hash?: string, code?: string, message?: string }> }

const worker = new WorkerCalls<Answer>({
  name: 'zlib worker',
  // A small heap: the worker's own objects are few (its buffers are outside
  // the heap); V8's default young generation alone would be 16 MiB of RSS.
  spawn: () => new Worker(WORKER, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 32 } }),
  failure: m => m.error === undefined ? null : new Error(`zlib worker: ${m.error}`)
})

/**
 * Starts the worker now, ahead of its first job: its start (~40 ms of a
 * thread bootstrapping Node) then overlaps a mount's DHT lookup and state
 * fetch instead of delaying the first object received. Never keeps the
 * process alive.
 */
export function startZlibWorker (): void {
  worker.start()
}

/** Whether the worker inflates with its one reused engine (else inflateSync per stream, GTFS_ZLIB_PLAIN=1). */
export async function inflatesDirect (): Promise<boolean> {
  return (await worker.call({ op: 'mode' })).direct === true
}

/** The zlib streams of `items` at `level`, in order. */
export async function deflateAll (items: Buffer[], level: number): Promise<Buffer[]> {
  const out = (await worker.call({ op: 'deflate', level, items })).out!
  return (out as Uint8Array[]).map(u => Buffer.from(u.buffer, u.byteOffset, u.byteLength))
}

const TYPE_CODES: Record<string, number> = { commit: 1, tree: 2, blob: 3, tag: 4 }

/** One object to inflate and check: its zlib stream, announced size, type and id. */
export interface InflateItem { stream: Uint8Array, size: number, type: string, id: string }

/**
 * An object of an inflated batch: its `data` and the `stream` it came from
 * (views of the batch's two buffers). `data` null: it does not inflate within
 * its size (`code`, `message`). `hash`: set only when the data hashes to
 * another id than the one given. `used`: the stream bytes inflate took (the
 * caller checks it against the stream's length).
 */
export interface Inflated { stream: Buffer, data: Buffer | null, used: number, hash?: string, code?: string, message?: string }

/**
 * Objects inflated and hashed on the worker in one message each way: their
 * streams are copied into the batch's input buffers as they are added (so a
 * stream may be a view of memory that changes after `add` returns), and their
 * data comes back in one buffer. Measured warming the wide tree's 50,000
 * small blobs, a moved buffer and a promise per object cost the main thread
 * 1.35 s in postMessage and doubled its time in GC.
 *
 * The input is a list of segments of `capacity` bytes (a stream larger than
 * that gets one of its own size), filled in order and never copied again.
 * One buffer grown by doubling allocated 555 MiB for the 204 MiB of streams
 * of a cold read of the wide tree (870 batches), and V8 counts every byte of
 * Buffer memory allocated since its last mark-compact against the old
 * generation's limit: that read ran a mark-compact every ~0.5 s.
 */
export class InflateBatch {
  private readonly segments: Buffer[] = []
  /** fill of the last segment */
  private fill = 0
  /** per stream: its segment */
  private readonly segs: number[] = []
  /** per stream: start and end in its segment */
  private readonly offs: number[] = []
  private readonly sizes: number[] = []
  private readonly types: number[] = []
  private ids = ''

  constructor (private readonly capacity = 64 * 1024) {}

  add (item: InflateItem): void {
    const n = item.stream.byteLength
    let last = this.segments.length - 1
    if (last < 0 || this.fill + n > this.segments[last].length) {
      this.segments.push(Buffer.allocUnsafeSlow(Math.max(this.capacity, n)))
      this.fill = 0
      last++
    }
    this.segments[last].set(item.stream, this.fill)
    this.segs.push(last)
    this.offs.push(this.fill, this.fill + n)
    this.fill += n
    this.sizes.push(item.size)
    this.types.push(TYPE_CODES[item.type] ?? 0)
    this.ids += item.id
  }

  /** The objects in the order added. Fails (every one) only when the worker does. */
  async run (): Promise<Inflated[]> {
    const offs = Int32Array.from(this.offs)
    const a = await worker.call({ op: 'inflate', inputs: this.segments, segs: Int32Array.from(this.segs), offs, sizes: Int32Array.from(this.sizes), types: Uint8Array.from(this.types), ids: this.ids }, this.segments.map(b => b.buffer as ArrayBuffer))
    const inputs = a.inputs!.map(view)
    const data = view(a.data!)
    batchMemory.add(data.buffer)
    const out: Inflated[] = []
    let at = 0
    for (let i = 0; i < this.sizes.length; i++) {
      const stream = inputs[this.segs[i]].subarray(offs[2 * i], offs[2 * i + 1])
      const len = a.lens![i]
      const bad = a.bad![i]
      out.push({ stream, data: len < 0 ? null : data.subarray(at, at + len), used: a.used![i], ...bad })
      at += this.sizes[i]
    }
    return out
  }
}

/** the memory of inflated batches (see inBatchMemory) */
const batchMemory = new WeakSet<ArrayBufferLike>()

/**
 * True for inflated data that is a view of a batch's buffer: caches keep such
 * views as they are. Copying each object out (to let the rest of its batch
 * go) cost a reader's main thread a copy of every byte of a cold walk, and
 * the objects of a batch arrive together and age together in an LRU anyway.
 */
export function inBatchMemory (b: Uint8Array): boolean {
  return batchMemory.has(b.buffer)
}

function view (u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength)
}

/** objects waiting for this turn's batch */
let turn: { batch: InflateBatch, waiting: Array<{ resolve: (r: Inflated) => void, reject: (err: Error) => void }> } | null = null

/**
 * One object inflated and checked on the worker (see InflateBatch). The
 * objects of one turn of the event loop travel in one batch. `stream` is
 * copied at once.
 */
export function inflateHash (item: InflateItem): Promise<Inflated> {
  // Not async, nor awaited by an async caller (zlib-object.ts): each object
  // waits here for the worker's round trip, long enough that its async
  // frames outlived two scavenges (14 MiB of a cold read's promoted heap).
  if (turn === null) {
    const t = turn = { batch: new InflateBatch(), waiting: [] as Array<{ resolve: (r: Inflated) => void, reject: (err: Error) => void }> }
    setImmediate(() => {
      turn = null
      t.batch.run().then(out => { out.forEach((r, i) => { t.waiting[i].resolve(r) }) }, (err: Error) => { for (const w of t.waiting) w.reject(err) })
    })
  }
  const t = turn
  try {
    t.batch.add(item)
  } catch (err) {
    return Promise.reject(err)
  }
  return new Promise<Inflated>((resolve, reject) => { t.waiting.push({ resolve, reject }) })
}

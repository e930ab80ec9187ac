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
 * The worker is plain JavaScript (eval): it needs no TypeScript loader. It is
 * started on the first call and keeps the process alive only while a call is
 * open; if it dies, every open call fails and the next one starts a new one.
 */
import { Worker, type TransferListItem } from 'node:worker_threads'

const WORKER = `
const { parentPort } = require('node:worker_threads')
const { deflateSync, inflateSync } = require('node:zlib')
const { createHash } = require('node:crypto')
const own = b => b.buffer.byteLength === b.length && b.byteOffset === 0 ? b : Buffer.from(b)
function deflate ({ id, level, items }) {
  const out = items.map(b => own(deflateSync(b, { level })))
  parentPort.postMessage({ id, out }, out.map(d => d.buffer))
}
// each stream inflated as zlib-object.ts's inflateExact does, the result hashed
// after its git header; the checks stay with the caller. Streams go back.
function inflateHash ({ id, items }) {
  const out = []
  const moved = []
  for (const { stream, size, header } of items) {
    moved.push(stream.buffer)
    try {
      const r = inflateSync(stream, { maxOutputLength: Math.max(1, size), info: true })
      const data = own(r.buffer)
      moved.push(data.buffer)
      out.push({ stream, data, used: r.engine.bytesWritten, hash: createHash('sha1').update(header).update(data).digest('hex') })
    } catch (err) {
      out.push({ stream, code: err && err.code, message: String(err && err.message || err) })
    }
  }
  parentPort.postMessage({ id, out }, moved)
}
parentPort.on('message', m => {
  try {
    if (m.op === 'deflate') deflate(m); else inflateHash(m)
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err && err.message || err) })
  }
})
`

/** the worker's answer: `out`, one result per item, or `error` */
interface Answer { id: number, error?: string, out: unknown[] }

let worker: Worker | null = null
let nextId = 0
const waiting = new Map<number, { resolve: (m: Answer) => void, reject: (err: Error) => void }>()

/** One message to the worker and its answer; `transfer`: buffers moved, not copied. */
async function call (msg: Record<string, unknown>, transfer: TransferListItem[] = []): Promise<Answer> {
  const w = worker ?? start()
  const id = nextId++
  return await new Promise<Answer>((resolve, reject) => {
    waiting.set(id, { resolve, reject })
    w.ref()
    w.postMessage({ ...msg, id }, transfer)
  })
}

function start (): Worker {
  const w = new Worker(WORKER, { eval: true })
  w.unref()
  w.on('message', (m: Answer) => {
    const p = waiting.get(m.id)
    if (p === undefined) return
    waiting.delete(m.id)
    if (waiting.size === 0) w.unref()
    if (m.error !== undefined) p.reject(new Error(`zlib worker: ${m.error}`))
    else p.resolve(m)
  })
  const fail = (err: Error): void => {
    if (worker === w) worker = null
    for (const p of waiting.values()) p.reject(err)
    waiting.clear()
  }
  w.on('error', fail)
  w.on('exit', code => { fail(new Error(`zlib worker exited (${code})`)) })
  worker = w
  return w
}

/** The zlib streams of `items` at `level`, in order. */
export async function deflateAll (items: Buffer[], level: number): Promise<Buffer[]> {
  const { out } = await call({ op: 'deflate', level, items })
  return (out as Uint8Array[]).map(u => Buffer.from(u.buffer, u.byteOffset, u.byteLength))
}

export type InflateAnswer = { stream: Buffer } & ({ data: Buffer, used: number, hash: string } | { code?: string, message: string })

interface InflateItem { stream: Buffer, size: number, header: Uint8Array }
/** streams waiting for this turn's message to the worker */
let queued: Array<{ item: InflateItem, resolve: (a: InflateAnswer) => void, reject: (err: Error) => void }> = []

function postQueued (): void {
  const batch = queued
  queued = []
  call({ op: 'inflate', items: batch.map(q => q.item) }, batch.map(q => q.item.stream.buffer as ArrayBuffer)).then(
    ({ out }) => { (out as InflateAnswer[]).forEach((a, i) => { batch[i].resolve(asBuffers(a)) }) },
    (err: Error) => { for (const q of batch) q.reject(err) })
}

/**
 * `stream` inflated (output capped at `size`) and hashed after `header`; the
 * checks are the caller's (`used` is how much of the stream the inflate took).
 * The streams of one turn of the event loop travel in one message. `stream` is
 * moved to the worker (a copy when it shares its memory) and comes back as
 * the answer's `stream`, the one to keep.
 */
export async function inflateHash (stream: Uint8Array, size: number, header: Uint8Array): Promise<InflateAnswer> {
  const own = stream.byteOffset === 0 && stream.buffer.byteLength === stream.byteLength ? Buffer.from(stream.buffer, 0, stream.byteLength) : Buffer.from(stream)
  return await new Promise<InflateAnswer>((resolve, reject) => {
    if (queued.length === 0) setImmediate(postQueued)
    queued.push({ item: { stream: own, size, header }, resolve, reject })
  })
}

/** Buffers over what structured clone hands back as plain Uint8Arrays. */
function asBuffers (a: InflateAnswer): InflateAnswer {
  const buf = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.byteLength)
  return 'data' in a ? { ...a, stream: buf(a.stream), data: buf(a.data) } : { ...a, stream: buf(a.stream) }
}

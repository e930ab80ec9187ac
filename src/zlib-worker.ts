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

class EvalWorker<Req extends object, Res> {
  private worker: Worker | null = null
  private nextId = 0
  private readonly waiting = new Map<number, { resolve: (r: Res) => void, reject: (err: Error) => void }>()

  /** `name` labels errors: "<name>: <message>". */
  constructor (private readonly source: string, private readonly name: string) {}

  /** Open calls. */
  get pending (): number { return this.waiting.size }

  async call (req: Req, transfer: TransferListItem[] = []): Promise<Res> {
    const w = this.start()
    const id = this.nextId++
    return await new Promise<Res>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      w.ref()
      w.postMessage({ ...req, id }, transfer)
    })
  }

  async close (): Promise<void> {
    const w = this.worker
    this.worker = null
    if (w !== null) await w.terminate()
  }

  private start (): Worker {
    if (this.worker !== null) return this.worker
    const w = new Worker(this.source, { eval: true })
    w.unref()
    w.on('message', (m: { id: number, error?: string }) => {
      const p = this.waiting.get(m.id)
      if (p === undefined) return
      this.waiting.delete(m.id)
      if (this.waiting.size === 0) w.unref()
      if (m.error !== undefined) p.reject(new Error(`${this.name}: ${m.error}`))
      else p.resolve(m as Res)
    })
    const fail = (err: Error): void => {
      if (this.worker === w) this.worker = null
      for (const p of this.waiting.values()) p.reject(err)
      this.waiting.clear()
    }
    w.on('error', fail)
    w.on('exit', code => { fail(new Error(`${this.name} worker exited (${code})`)) })
    this.worker = w
    return w
  }
}


const worker = new EvalWorker<{ op: string }, object>(WORKER, 'zlib')

/** The zlib streams of `items` at `level`, in order. */
export async function deflateAll (items: Buffer[], level: number): Promise<Buffer[]> {
  const { out } = await worker.call({ op: 'deflate', level, items } as { op: string }) as { out: Uint8Array[] }
  return out.map(u => Buffer.from(u.buffer, u.byteOffset, u.byteLength))
}

export interface InflateItem { stream: Uint8Array, size: number, header: Uint8Array }
export type InflateAnswer = { stream: Uint8Array } & ({ data: Uint8Array, used: number, hash: string } | { code?: string, message: string })

/**
 * Each stream inflated (output capped at its `size`) and hashed after its
 * `header`. The streams are moved to the worker (each must own its
 * ArrayBuffer: see ownBuffer) and come back in the answers.
 */
export async function inflateHashAll (items: InflateItem[]): Promise<InflateAnswer[]> {
  const { out } = await worker.call({ op: 'inflate', items } as { op: string }, items.map(i => i.stream.buffer as ArrayBuffer)) as { out: InflateAnswer[] }
  return out
}

/** `b` as a Buffer that owns its whole ArrayBuffer (movable to the worker without its neighbours): itself, or a copy. */
export function ownBuffer (b: Uint8Array): Buffer {
  return b.byteOffset === 0 && b.buffer.byteLength === b.byteLength ? Buffer.from(b.buffer, 0, b.byteLength) : Buffer.from(b)
}

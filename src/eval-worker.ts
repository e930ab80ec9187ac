/**
 * One worker thread running a small piece of plain JavaScript (eval: it needs
 * no TypeScript loader), called with messages and answering each in turn.
 * The zlib work of the store (deflating packs) and of the swarm (inflating and
 * hashing what peers send) runs on such workers, off the main thread that
 * parses the wire and answers FUSE.
 *
 * The worker source receives `{ id, ...request }` on `parentPort` and answers
 * `{ id, ...result }` or `{ id, error }`. It is started on the first call and
 * keeps the process alive only while a call is open. If it dies, every open
 * call fails and the next call starts a new one.
 */
import { Worker, type TransferListItem } from 'node:worker_threads'

export class EvalWorker<Req extends object, Res> {
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

/** `b` as a Buffer that owns its whole ArrayBuffer (transferable without taking its neighbours): itself, or a copy. */
export function ownBuffer (b: Uint8Array): Buffer {
  return b.byteOffset === 0 && b.buffer.byteLength === b.byteLength ? Buffer.from(b.buffer, 0, b.byteLength) : Buffer.from(b)
}

/**
 * Calls to one worker thread, each a message with an `id` and one answer with
 * the same `id`: what the zlib worker (zlib-worker.ts) and the catalog worker
 * (publish/catalog-worker.ts) share. The worker is started on the first call
 * (or `start`), and keeps the process alive only while a call is open. If it
 * dies, every open call fails and the next call starts a new one. With
 * `idleMs`, it is stopped after that long without a call open.
 */
import { Worker, type TransferListItem } from 'node:worker_threads'

export interface WorkerCallsOptions<A> {
  /** a new worker */
  spawn: () => Worker
  /** the error an answer stands for, or null for a result */
  failure: (answer: A) => Error | null
  /** names the worker in its errors ("zlib worker") */
  name: string
  /** ms without an open call after which the worker is stopped; never if absent */
  idleMs?: number
}

export class WorkerCalls<A extends { id: number }> {
  private worker: Worker | null = null
  private nextId = 0
  private readonly waiting = new Map<number, { resolve: (m: A) => void, reject: (err: Error) => void }>()
  private idle?: NodeJS.Timeout

  constructor (private readonly o: WorkerCallsOptions<A>) {}

  /** The worker, started now if none runs. Never keeps the process alive by itself. */
  start (): Worker {
    if (this.worker !== null) return this.worker
    const w = this.o.spawn()
    w.unref()
    // An unref before the thread is up does not hold: a worker started ahead of
    // its first job (startZlibWorker) kept the daemon alive after it stopped.
    w.once('online', () => { if (this.waiting.size === 0) w.unref() })
    w.on('message', (m: A) => {
      const p = this.waiting.get(m.id)
      if (p === undefined) return
      this.waiting.delete(m.id)
      this.settled(w)
      const err = this.o.failure(m)
      if (err !== null) p.reject(err)
      else p.resolve(m)
    })
    const fail = (err: Error): void => {
      if (this.worker === w) this.worker = null
      for (const p of this.waiting.values()) p.reject(err)
      this.waiting.clear()
    }
    w.on('error', fail)
    w.on('exit', code => { fail(new Error(`${this.o.name} exited (${code})`)) })
    this.worker = w
    this.settled(w)
    return w
  }

  /**
   * One message to the worker and its answer; `transfer`: buffers moved, not
   * copied; `timeoutMs`: the call fails after that long (the worker goes on).
   */
  async call (msg: Record<string, unknown>, transfer: TransferListItem[] = [], timeoutMs?: number): Promise<A> {
    const w = this.start()
    clearTimeout(this.idle)
    const id = this.nextId++
    return await new Promise<A>((resolve, reject) => {
      const timer = timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
          if (this.waiting.delete(id)) reject(new Error(`${this.o.name}: no answer in ${timeoutMs} ms`))
          this.settled(w)
        }, timeoutMs).unref()
      this.waiting.set(id, {
        resolve: m => { clearTimeout(timer); resolve(m) },
        reject: err => { clearTimeout(timer); reject(err) }
      })
      w.ref()
      w.postMessage({ ...msg, id }, transfer)
    })
  }

  /** After a call settles: unreferenced when none is open, and stopped after idleMs of that. */
  private settled (w: Worker): void {
    clearTimeout(this.idle)
    if (this.waiting.size > 0) return
    w.unref()
    if (this.o.idleMs === undefined) return
    this.idle = setTimeout(() => {
      if (this.worker === w && this.waiting.size === 0) {
        this.worker = null
        void w.terminate()
      }
    }, this.o.idleMs).unref()
  }
}

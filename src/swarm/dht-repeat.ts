/**
 * Work repeated on a timer: republishing pointers and re-announcing swarms.
 * A job runs once at `keep` (its outcome returned or thrown), then every
 * interval ±10 % (so many nodes do not pulse together) on an unref'd timer,
 * never twice at once. Its last success and last error are kept for status.
 */
import type { Logger } from '../log.ts'

export interface RepeatStatus {
  lastOk: Date | null
  lastError: string | null
}

interface Job extends RepeatStatus {
  timer: NodeJS.Timeout | null
  busy: boolean
}

export class Repeater {
  private readonly jobs = new Map<string, Job>()
  private stopped = false
  private readonly log: Logger

  constructor (log: Logger) {
    this.log = log
  }

  async keep<T> (key: string, intervalMs: number, what: string, run: () => Promise<T>): Promise<T> {
    this.forget(key)
    const job: Job = { timer: null, busy: false, lastOk: null, lastError: null }
    this.jobs.set(key, job)
    const next = (): void => {
      job.timer = setTimeout(() => {
        if (this.stopped || this.jobs.get(key) !== job) return
        if (!job.busy) {
          this.track(job, run).then(() => { this.log('%s: done', what) }, (err: unknown) => {
            const code = (err as { code?: unknown })?.code
            this.log('%s failed: %s%s', what, typeof code === 'string' ? code + ' ' : '', (err as Error)?.message)
          })
        }
        next()
      }, intervalMs * (0.9 + 0.2 * Math.random()))
      job.timer.unref()
    }
    next()
    return await this.track(job, run)
  }

  private async track<T> (job: Job, run: () => Promise<T>): Promise<T> {
    job.busy = true
    try {
      const r = await run()
      job.lastOk = new Date()
      job.lastError = null
      return r
    } catch (err) {
      job.lastError = (err as Error)?.message ?? String(err)
      throw err
    } finally {
      job.busy = false
    }
  }

  forget (key: string): void {
    const job = this.jobs.get(key)
    if (job?.timer != null) clearTimeout(job.timer)
    this.jobs.delete(key)
  }

  status (key: string): RepeatStatus {
    const job = this.jobs.get(key)
    return { lastOk: job?.lastOk ?? null, lastError: job?.lastError ?? null }
  }

  stop (): void {
    this.stopped = true
    for (const key of [...this.jobs.keys()]) this.forget(key)
  }
}

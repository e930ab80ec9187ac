/**
 * Waiting on callback-style DHT operations: one promise per operation that
 * settles on the callback, on any of the abort signals (the caller's, the
 * node's stop), or at a deadline, whichever comes first, and cancels the
 * operation on every way out.
 */
import { GtfsError, TimeoutError, isGtfsError } from '../errors.ts'

export function abortError (what: string, reason: unknown): GtfsError {
  if (isGtfsError(reason)) return reason
  return new GtfsError('EABORTED', `${what}: aborted`, { cause: reason })
}

/**
 * `body` starts the operation and may return a cancel function. At the
 * deadline (`ms`) the promise rejects with ETIMEOUT, unless `onDeadline`
 * turns the deadline into a result. An abort rejects with the signal's
 * GtfsError reason, else EABORTED. What `body` throws is passed to `wrap`.
 */
export async function settle<T> (what: string, signals: readonly AbortSignal[], ms: number,
  body: (resolve: (v: T) => void, reject: (e: unknown) => void) => (() => void) | void,
  opts: { onDeadline?: () => T, wrap?: (err: unknown) => unknown } = {}): Promise<T> {
  for (const s of signals) if (s.aborted) throw abortError(what, s.reason)
  return await new Promise<T>((resolve, reject) => {
    let done = false
    let cancel: (() => void) | void = undefined
    const finish = (fn: () => void): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      for (const s of signals) s.removeEventListener('abort', onAbort)
      try { cancel?.() } catch {}
      fn()
    }
    const onAbort = (ev: Event): void => { finish(() => { reject(abortError(what, (ev.target as AbortSignal).reason)) }) }
    const timer = setTimeout(() => {
      finish(() => {
        if (opts.onDeadline !== undefined) resolve(opts.onDeadline())
        else reject(new TimeoutError(`${what}: no answer within ${ms} ms`))
      })
    }, ms)
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true })
    try {
      cancel = body(v => { finish(() => { resolve(v) }) }, e => { finish(() => { reject(e) }) })
    } catch (err) {
      finish(() => { reject(opts.wrap === undefined ? err : opts.wrap(err)) })
    }
    // settled synchronously inside body: cancel was not known to finish yet
    if (done) try { cancel?.() } catch {}
  })
}

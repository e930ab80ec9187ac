/**
 * Every FUSE operation runs under a deadline: an operation that does not settle
 * in time is aborted and answered with EIO, so no reader ever hangs.
 */
import { TimeoutError } from '../errors.ts'

export async function withDeadline<T> (ms: number, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const err = new TimeoutError(`${what}: no answer within ${ms} ms`)
      ac.abort(err)
      reject(err)
    }, ms)
  })
  try {
    return await Promise.race([fn(ac.signal), expired])
  } finally {
    clearTimeout(timer)
  }
}

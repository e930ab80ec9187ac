/**
 * Every FUSE operation runs under a deadline: an operation that does not settle
 * in time is aborted and answered with EIO, so no reader ever hangs.
 *
 * Operations share their deadline by slot: every operation that starts within
 * the same SLOT_MS with the same length gets one AbortSignal and one timer,
 * which fire SLOT_MS after the last of them could have started, so each
 * operation gets between `ms` and `ms + SLOT_MS`. Most operations are answered
 * from memory in microseconds; an AbortController, a timer and a promise of
 * their own were ~3% of a reader's CPU in a cold walk of 50,000 files.
 */
import { setMaxListeners } from 'node:events'
import { TimeoutError } from '../errors.ts'

const SLOT_MS = 100

interface Slot {
  started: number
  signal: AbortSignal
  /** made when the slot expires: an error made earlier would keep the stack of the operation that opened the slot, and through it that operation's closures (a whole unmounted view) */
  reason?: TimeoutError
  /** how to fail each operation of the slot still under way */
  pending: Set<() => void>
  /** keeps the process alive only while an operation of the slot is under way */
  timer?: NodeJS.Timeout
}

/** the open slot of each deadline length */
const open = new Map<number, Slot>()

function slotFor (ms: number): Slot {
  const now = Date.now()
  const cur = open.get(ms)
  if (cur !== undefined && now - cur.started < SLOT_MS) return cur
  const ac = new AbortController()
  // Every wait of every operation of the slot may listen; each removes its listener when it ends.
  setMaxListeners(0, ac.signal)
  const slot: Slot = { started: now, signal: ac.signal, pending: new Set() }
  slot.timer = setTimeout(() => {
    if (open.get(ms) === slot) open.delete(ms)
    slot.reason = new TimeoutError(`no answer within ${ms} ms`)
    ac.abort(slot.reason)
    for (const fail of slot.pending) fail()
    slot.pending.clear()
  }, ms + SLOT_MS)
  open.set(ms, slot)
  return slot
}

/**
 * Runs `fn` under a deadline of `ms` (up to SLOT_MS more): past it, `fn`'s
 * signal aborts and the caller gets TimeoutError naming `what`. Nothing of a
 * settled operation is kept until its slot expires.
 */
export async function withDeadline<T> (ms: number, what: string, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const slot = slotFor(ms)
  const timeout = (): TimeoutError => new TimeoutError(`${what}: no answer within ${ms} ms`)
  return await new Promise<T>((resolve, reject) => {
    const fail = (): void => { reject(timeout()) }
    slot.pending.add(fail)
    if (slot.pending.size === 1) slot.timer?.ref()
    const settled = (): void => {
      slot.pending.delete(fail)
      if (slot.pending.size === 0) slot.timer?.unref()
    }
    let running: Promise<T>
    try {
      running = fn(slot.signal)
    } catch (err) {
      running = Promise.reject(err)
    }
    running.then(value => {
      settled()
      resolve(value)
    }, (err: unknown) => {
      settled()
      // The slot's reason names no operation: say which one ran out of time.
      reject(err === slot.reason ? timeout() : err)
    })
  })
}

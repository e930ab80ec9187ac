/** Durations on the command line: "30d", "12h", "90m", "3600s", "2w" (a bare number is seconds). */
import { UsageError } from '../errors.ts'

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }

/** Seconds in `text`; EUSAGE unless it is a positive whole number with an optional unit. */
export function parseDuration (text: string, what = 'duration'): number {
  const m = /^([1-9][0-9]{0,9})([smhdw]?)$/.exec(String(text).trim())
  if (m === null) throw new UsageError('EUSAGE', `${what} "${text}" is not a duration`, { hint: 'write it as a number with a unit: 3600s, 90m, 12h, 30d, 2w' })
  return Number(m[1]) * UNIT_SECONDS[m[2] === '' ? 's' : m[2]]
}

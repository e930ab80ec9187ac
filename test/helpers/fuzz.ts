/**
 * A seeded mutation fuzzer for parsers of untrusted bytes: random inputs from
 * an alphabet, and valid samples with bytes flipped, cut, repeated or spliced
 * from another sample. Every input must be accepted or refused with one of the
 * target's error codes; anything else (a TypeError, a RangeError, a stack
 * overflow) fails, with the input in hex so it can be replayed.
 */
import assert from 'node:assert/strict'
import { isGtfsError } from '../../src/errors.ts'
import { rng } from './rng.ts'

export interface FuzzTarget {
  name: string
  /** valid inputs to mutate */
  samples: Buffer[]
  parse: (input: Buffer) => unknown
  /** the codes a refusal may carry */
  codes: string[]
}

export interface FuzzOptions {
  seed: number
  /** inputs per target at most */
  count: number
  /** ms for all targets together at most; the run stops early when it is spent */
  ms: number
  /** bytes random inputs are drawn from (besides the samples' own) */
  alphabet?: Buffer
}

export interface FuzzCounts { inputs: number, accepted: number, refused: number, slowestMs: number }

export function fuzz (targets: FuzzTarget[], o: FuzzOptions): Record<string, FuzzCounts> {
  const rand = rng(o.seed)
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)]
  const end = performance.now() + o.ms
  const out: Record<string, FuzzCounts> = {}
  for (const t of targets) out[t.name] = { inputs: 0, accepted: 0, refused: 0, slowestMs: 0 }
  const perTargetMs = o.ms / targets.length
  for (const t of targets) {
    const c = out[t.name]
    const stop = Math.min(end, performance.now() + perTargetMs)
    const alphabet = Buffer.concat([o.alphabet ?? Buffer.alloc(0), ...t.samples.map(s => s.subarray(0, 64))])
    for (let n = 0; n < o.count && performance.now() < stop; n++) {
      const input = n % 4 === 0 ? random(rand, alphabet) : mutate(rand, pick(t.samples), pick(t.samples))
      const t0 = performance.now()
      try {
        t.parse(input)
        c.accepted++
      } catch (err) {
        if (!t.codes.some(code => isGtfsError(err, code))) {
          assert.fail(`${t.name}: input ${input.toString('hex').slice(0, 4000)} threw ${String((err as Error)?.stack ?? err)}`)
        }
        c.refused++
      }
      c.slowestMs = Math.max(c.slowestMs, performance.now() - t0)
      c.inputs++
    }
  }
  return out
}

function random (rand: () => number, alphabet: Buffer): Buffer {
  const b = Buffer.alloc(Math.floor(rand() * 96))
  for (let i = 0; i < b.length; i++) b[i] = alphabet.length > 0 && rand() < 0.8 ? alphabet[Math.floor(rand() * alphabet.length)] : Math.floor(rand() * 256)
  return b
}

function mutate (rand: () => number, sample: Buffer, other: Buffer): Buffer {
  let input = Buffer.from(sample)
  const edits = 1 + Math.floor(rand() * 4)
  for (let e = 0; e < edits && input.length > 0; e++) {
    const at = Math.floor(rand() * input.length)
    const op = rand()
    if (op < 0.4) input[at] = Math.floor(rand() * 256)
    else if (op < 0.6) input = input.subarray(0, at)
    else if (op < 0.8) input = Buffer.concat([input.subarray(0, at), input.subarray(at - Math.min(at, 8))])
    else {
      const from = Math.floor(rand() * other.length)
      input = Buffer.concat([input.subarray(0, at), other.subarray(from, from + 1 + Math.floor(rand() * 32)), input.subarray(at)])
    }
  }
  return input
}

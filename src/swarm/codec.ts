/**
 * A small, strict bencode codec (BEP3) for the gtfs wire extension.
 *
 * Why not the `bencode` package that bittorrent-protocol ships: it is lenient
 * (non-canonical integers and unsorted keys pass), recurses without a depth cap
 * and turns large integers into imprecise floats. A peer's bytes reach this
 * decoder straight off the socket, so it must refuse, never crash or hang:
 *
 * - canonical forms only: no leading zeros, no `-0`, dict keys strictly ascending
 *   (bytewise) and unique, nothing after the top-level value;
 * - integers must be safe JS integers (|n| < 2^53);
 * - nesting depth, total element count and input size are capped before work;
 * - every refusal is a ProtocolError with code EPROTO.
 *
 * Byte strings decode to Buffer views of the input (no copy); dict keys decode
 * to latin1 strings (so byte order and string order agree) into objects with
 * no inherited properties, so a `__proto__` key is plain data.
 */
import { ProtocolError } from '../errors.ts'

export type BValue = number | Buffer | BValue[] | BDict
export interface BDict { [key: string]: BValue }

/** What the encoder takes: strings become UTF-8 bytes, undefined dict values are skipped. */
export type BInput = number | string | Uint8Array | BInput[] | { [key: string]: BInput | undefined }

export interface DecodeLimits {
  /** bytes of input */
  maxBytes: number
  /** nesting of lists and dicts */
  maxDepth: number
  /** list elements plus dict entries, summed over the whole value */
  maxItems: number
  /** bytes of one dict key */
  maxKeyBytes: number
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxBytes: 1024 * 1024,
  maxDepth: 8,
  maxItems: 10_000,
  maxKeyBytes: 64
}

const C_I = 0x69 // i
const C_L = 0x6c // l
const C_D = 0x64 // d
const C_E = 0x65 // e
const C_COLON = 0x3a
const C_MINUS = 0x2d
const C_0 = 0x30
const C_9 = 0x39

function bad (what: string, pos: number): never {
  throw new ProtocolError('EPROTO', `bencode: ${what} at byte ${pos}`)
}

class Decoder {
  pos = 0
  items = 0
  constructor (readonly buf: Buffer, readonly limits: DecodeLimits) {}

  value (depth: number): BValue {
    const c = this.buf[this.pos]
    if (c === undefined) bad('unexpected end', this.pos)
    if (c === C_I) return this.int()
    if (c >= C_0 && c <= C_9) return this.bytes()
    if (c === C_L || c === C_D) {
      if (depth >= this.limits.maxDepth) bad('nesting too deep', this.pos)
      return c === C_L ? this.list(depth + 1) : this.dict(depth + 1)
    }
    return bad(`unexpected byte 0x${c.toString(16)}`, this.pos)
  }

  /** Digits from `pos` up to `end` (exclusive), canonical, as a safe integer. */
  digits (start: number, end: number): number {
    const n = end - start
    if (n === 0) bad('empty number', start)
    if (n > 16) bad('number too long', start)
    let v = 0
    for (let i = start; i < end; i++) {
      const d = this.buf[i] - C_0
      if (d < 0 || d > 9) bad('not a digit', i)
      v = v * 10 + d
    }
    if (n > 1 && this.buf[start] === C_0) bad('leading zero', start)
    if (!Number.isSafeInteger(v)) bad('integer out of range', start)
    return v
  }

  int (): number {
    const start = this.pos + 1
    // a sign and at most 16 digits; look only that far for the 'e'
    const limit = Math.min(this.buf.length, start + 18)
    let end = -1
    for (let i = start; i < limit; i++) {
      if (this.buf[i] === C_E) { end = i; break }
    }
    if (end < 0) bad('unterminated integer', this.pos)
    let v: number
    if (this.buf[start] === C_MINUS) {
      v = -this.digits(start + 1, end)
      if (v === 0) bad('negative zero', start)
    } else {
      v = this.digits(start, end)
    }
    this.pos = end + 1
    return v
  }

  /** The byte string at `pos`: sets `from`/`to` to its bounds in `buf` and moves past it. */
  span (): void {
    const start = this.pos
    // a length has at most 16 digits; look only that far for the colon
    const limit = Math.min(this.buf.length, start + 17)
    let colon = -1
    for (let i = start; i < limit; i++) {
      if (this.buf[i] === C_COLON) { colon = i; break }
    }
    if (colon < 0) bad('unterminated string length', start)
    const len = this.digits(start, colon)
    const from = colon + 1
    if (len > this.buf.length - from) bad('string runs past the end', start)
    this.from = from
    this.to = from + len
    this.pos = from + len
  }

  from = 0
  to = 0

  bytes (): Buffer {
    this.span()
    return this.buf.subarray(this.from, this.to)
  }

  count (): void {
    if (++this.items > this.limits.maxItems) bad('too many elements', this.pos)
  }

  list (depth: number): BValue[] {
    this.pos++
    const out: BValue[] = []
    while (this.buf[this.pos] !== C_E) {
      if (this.pos >= this.buf.length) bad('unterminated list', this.pos)
      this.count()
      out.push(this.value(depth))
    }
    this.pos++
    return out
  }

  dict (depth: number): BDict {
    this.pos++
    const out = Object.create(DICT_PROTO) as BDict
    let prevFrom = -1
    let prevTo = -1
    while (this.buf[this.pos] !== C_E) {
      if (this.pos >= this.buf.length) bad('unterminated dict', this.pos)
      const c = this.buf[this.pos]
      if (!(c >= C_0 && c <= C_9)) bad('dict key is not a string', this.pos)
      this.count()
      const keyPos = this.pos
      this.span()
      const { from, to } = this
      if (to - from > this.limits.maxKeyBytes) bad('dict key too long', keyPos)
      // compares the previous key (source) with this one (target)
      if (prevFrom >= 0 && this.buf.compare(this.buf, from, to, prevFrom, prevTo) >= 0) bad('dict keys not sorted or repeated', keyPos)
      prevFrom = from
      prevTo = to
      out[keyString(this.buf, from, to)] = this.value(depth)
    }
    this.pos++
    return out
  }
}

/**
 * What every decoded dict inherits: nothing. An object made by
 * Object.create(null) starts in V8's dictionary mode (a hash table per
 * message); one whose prototype is this empty, frozen, null-prototype object
 * is an ordinary fast object, and a `__proto__` key on it is still plain data.
 */
const DICT_PROTO = Object.freeze(Object.create(null) as object)

/** Keys of up to 6 bytes seen so far, by their bytes as a number: the wire's keys are a few short words. */
const KEYS = new Map<number, string>()
const MAX_KEYS_INTERNED = 256

/** A dict key as a latin1 string; short ones come from KEYS, not a new string per message. */
function keyString (buf: Buffer, from: number, to: number): string {
  if (to - from > 6) return buf.toString('latin1', from, to)
  let code = to - from // the length too: "a" and "\0a" differ
  for (let i = from; i < to; i++) code = code * 256 + buf[i]
  let k = KEYS.get(code)
  if (k === undefined) {
    k = buf.toString('latin1', from, to)
    if (KEYS.size < MAX_KEYS_INTERNED) KEYS.set(code, k)
  }
  return k
}

/** Decodes exactly one canonical bencoded value filling `input`; anything else throws EPROTO. */
export function bdecode (input: Uint8Array, limits: Partial<DecodeLimits> = {}): BValue {
  const lim = { ...DEFAULT_DECODE_LIMITS, ...limits }
  if (!(input instanceof Uint8Array)) throw new ProtocolError('EPROTO', 'bencode: input is not bytes')
  if (input.length > lim.maxBytes) throw new ProtocolError('EPROTO', `bencode: ${input.length} bytes exceed the cap of ${lim.maxBytes}`)
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.length)
  const d = new Decoder(buf, lim)
  const v = d.value(0)
  if (d.pos !== buf.length) bad('trailing bytes', d.pos)
  return v
}

/**
 * Collects the encoding as latin1 text (one char per byte) for the small
 * pieces, and as Buffer views for byte strings of `minView` bytes or more.
 */
class Writer {
  readonly out: Buffer[] = []
  text = ''
  constructor (readonly minView: number) {}

  bytes (b: Buffer): void {
    if (b.length >= this.minView) {
      this.flush()
      this.out.push(b)
    } else {
      this.text += b.toString('latin1')
    }
  }

  flush (): void {
    if (this.text.length > 0) {
      this.out.push(Buffer.from(this.text, 'latin1'))
      this.text = ''
    }
  }
}

const ASCII = /^[\x00-\x7f]*$/

function encodeInto (v: BInput, w: Writer): void {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new TypeError(`bencode: ${v} is not a safe integer`)
    w.text += `i${v}e`
  } else if (typeof v === 'string') {
    if (ASCII.test(v)) {
      w.text += `${v.length}:${v}`
    } else {
      const b = Buffer.from(v, 'utf8')
      w.text += `${b.length}:`
      w.bytes(b)
    }
  } else if (v instanceof Uint8Array) {
    w.text += `${v.length}:`
    w.bytes(Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.length))
  } else if (Array.isArray(v)) {
    w.text += 'l'
    for (const x of v) encodeInto(x, w)
    w.text += 'e'
  } else if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v).filter(k => v[k] !== undefined)
    // bytewise order of the UTF-8 keys; for ASCII keys that is plain string order
    if (keys.every(k => ASCII.test(k))) {
      keys.sort()
    } else {
      keys.sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))
    }
    w.text += 'd'
    for (const k of keys) {
      encodeInto(k, w)
      encodeInto(v[k] as BInput, w)
    }
    w.text += 'e'
  } else {
    throw new TypeError(`bencode: cannot encode ${typeof v}`)
  }
}

/** Canonical bencoding of `v`. */
export function bencode (v: BInput): Buffer {
  const w = new Writer(Infinity)
  encodeInto(v, w)
  w.flush()
  return w.out.length === 1 ? w.out[0] : Buffer.concat(w.out)
}

/**
 * The same bytes as `bencode(v)`, as a short list of buffers: byte strings of
 * at least `minView` bytes stay views of the caller's memory (no copy), the
 * small pieces between them are joined. For sending 64 KiB chunks without
 * copying them.
 */
export function bencodeParts (v: BInput, minView = 1024): Buffer[] {
  const w = new Writer(minView)
  encodeInto(v, w)
  w.flush()
  return w.out
}

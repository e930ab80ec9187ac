/**
 * Canonical JSON: the one byte encoding of everything gtfs signs or hashes
 * (policies, manifests, persisted state).
 *
 * The encoding is RFC 8785 (JCS) restricted to a subset where JCS is trivial:
 * - values are null, booleans, strings, safe integers, arrays and plain objects;
 *   floats, NaN, -0 as a distinct value, undefined, bigint and class instances
 *   are refused (a signer and a verifier must never disagree on a number);
 * - object keys are sorted by UTF-16 code units (JCS §3.2.3), no whitespace;
 * - strings are escaped as JSON.stringify does (JCS §3.2.2.2 is the same rule);
 *   lone surrogates are refused because they have no UTF-8 encoding;
 * - the text is UTF-8 without a BOM.
 *
 * Decoding is strict in the other direction: after parsing, the value is
 * re-encoded and must give back the exact input bytes. So every document has
 * exactly one accepted encoding, a hash names one document, and tricks such as
 * duplicate keys (JSON.parse keeps the last) or `1.0` for `1` are refused.
 */
import { MAX_JSON_DEPTH } from './limits.ts'
import { malformed, tooLarge } from './codes.ts'

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = { [key: string]: JsonValue }

const LONE_SURROGATE = /\p{Cs}/u
const utf8 = new TextEncoder()
// fatal: invalid UTF-8 is an error, not U+FFFD; ignoreBOM: a BOM stays in the
// text so JSON.parse refuses it instead of it being dropped silently.
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Canonical UTF-8 bytes of `value`; throws EMALFORMED for values outside the subset. */
export function canonicalBytes (value: unknown, what = 'document'): Uint8Array {
  return utf8.encode(canonicalText(value, what))
}

/** Canonical text of `value` (see the module comment for the rules). */
export function canonicalText (value: unknown, what = 'document'): string {
  const out: string[] = []
  encode(value, 0, what, out)
  return out.join('')
}

function encode (value: unknown, depth: number, what: string, out: string[]): void {
  if (depth > MAX_JSON_DEPTH) throw malformed(what, `nested deeper than ${MAX_JSON_DEPTH} levels`)
  if (value === null) { out.push('null'); return }
  switch (typeof value) {
    case 'boolean':
      out.push(value ? 'true' : 'false')
      return
    case 'number':
      if (!Number.isSafeInteger(value)) throw malformed(what, `${String(value)} is not a safe integer`)
      // -0 encodes as 0, like JSON.stringify; decoding then refuses "-0" as non-canonical.
      out.push(String(value === 0 ? 0 : value))
      return
    case 'string':
      if (LONE_SURROGATE.test(value)) throw malformed(what, 'string holds a lone surrogate')
      out.push(JSON.stringify(value))
      return
    case 'object':
      break
    default:
      throw malformed(what, `a ${typeof value} cannot be encoded`)
  }
  if (Array.isArray(value)) {
    out.push('[')
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out.push(',')
      // A hole reads as undefined and is refused like any undefined.
      encode(value[i], depth + 1, what, out)
    }
    out.push(']')
    return
  }
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) throw malformed(what, 'only plain objects can be encoded')
  const obj = value as Record<string, unknown>
  const keys = Object.keys(obj).sort()
  out.push('{')
  keys.forEach((key, i) => {
    if (LONE_SURROGATE.test(key)) throw malformed(what, 'key holds a lone surrogate')
    if (i > 0) out.push(',')
    out.push(JSON.stringify(key), ':')
    encode(obj[key], depth + 1, what, out)
  })
  out.push('}')
}

/**
 * Parses canonical JSON bytes. The size cap is checked first, on the raw
 * length, so oversized input is never decoded (ETOOLARGE, not EMALFORMED).
 */
export function parseCanonical (bytes: Uint8Array, maxBytes: number, what = 'document'): JsonValue {
  if (!(bytes instanceof Uint8Array)) throw malformed(what, 'expected bytes')
  if (bytes.byteLength > maxBytes) throw tooLarge(what, bytes.byteLength, maxBytes)
  let text: string
  try {
    text = utf8Strict.decode(bytes)
  } catch {
    throw malformed(what, 'not valid UTF-8')
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw malformed(what, `not JSON (${(err as Error).message})`)
  }
  const again = canonicalBytes(value, what)
  if (!bytesEqual(again, bytes)) throw malformed(what, 'not in canonical form (sorted keys, no whitespace, integers only)')
  return value as JsonValue
}

export function bytesEqual (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength &&
    Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}

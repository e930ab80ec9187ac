/**
 * The pointer: a BEP44 mutable item that names a repo's latest manifest.
 *
 *     k   = the ed25519 public key the policy names for the pointer (32 bytes)
 *     seq = the manifest's seq (BEP44: must grow with every update)
 *     v   = bencoded dict { h: <SHA-256 of the manifest, 32 raw bytes> }
 *           on the wire: d1:h32:<32 bytes>e (40 bytes; BEP44 caps v at 1000)
 *     no salt: one pointer per key
 *
 * `v` is the dict itself, not a byte string holding bencode, so other BEP44
 * tools read it as `{ h }`. The pointer is an accelerator and a freshness
 * hint, never a source of trust: the manifest it names is verified against
 * the policy like any other. Readers ignore dict keys they do not know, so a
 * later version may add keys.
 */
import { ProtocolError } from '../errors.ts'

export interface Pointer {
  /** SHA-256 of the manifest, 64 lowercase hex digits */
  manifestHash: string
  /** BEP44 sequence number, a non-negative safe integer */
  seq: number
}

export const EBADPOINTER = 'EBADPOINTER'
export const MANIFEST_HASH_BYTES = 32
/** bencoded size of `v`: d 1:h 32:<32 bytes> e */
export const POINTER_VALUE_BYTES = 40

const HASH_HEX = /^[0-9a-f]{64}$/

function bad (message: string): ProtocolError {
  return new ProtocolError(EBADPOINTER, message)
}

export function isSeq (seq: unknown): seq is number {
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0
}

/** Throws EBADPOINTER unless `p` is { manifestHash: 64 lowercase hex, seq: safe integer ≥ 0 }. */
export function checkPointer (p: Pointer): Pointer {
  if (p === null || typeof p !== 'object') throw bad('a pointer is { manifestHash, seq }')
  if (typeof p.manifestHash !== 'string' || !HASH_HEX.test(p.manifestHash)) throw bad('pointer manifestHash must be 64 lowercase hex digits (a SHA-256)')
  if (!isSeq(p.seq)) throw bad(`pointer seq must be a non-negative safe integer, not ${String(p.seq)}`)
  return { manifestHash: p.manifestHash, seq: p.seq }
}

/** The BEP44 `v` for a pointer. */
export function encodePointerValue (p: Pointer): { h: Buffer } {
  return { h: Buffer.from(checkPointer(p).manifestHash, 'hex') }
}

/** The manifest hash in a received `v` (as the bencode decoder gave it), or EBADPOINTER. */
export function decodePointerValue (v: unknown): string {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
    throw bad('pointer value is not a bencoded dict')
  }
  const h: unknown = Object.hasOwn(v, 'h') ? (v as Record<string, unknown>).h : undefined
  if (!(h instanceof Uint8Array) || h.byteLength !== MANIFEST_HASH_BYTES) throw bad(`pointer value has no ${MANIFEST_HASH_BYTES}-byte h`)
  return Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString('hex')
}

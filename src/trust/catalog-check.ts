/**
 * Checks catalog bytes against the hash in a verified manifest. The catalog
 * format itself is git/'s business; trust only vouches that these are the
 * bytes the signers named. Size is capped before hashing (ETOOLARGE), a
 * mismatch is ECATALOG.
 */
import { IntegrityError } from '../errors.ts'
import { ECATALOG, malformed, tooLarge } from './codes.ts'
import { SHA256_HEX, sha256Hex } from './digest.ts'
import { MAX_CATALOG_BYTES } from './limits.ts'

export function verifyCatalog (bytes: Uint8Array, expectedHash: string, opts: { maxBytes?: number } = {}): void {
  const cap = opts.maxBytes ?? MAX_CATALOG_BYTES
  if (bytes.byteLength > cap) throw tooLarge('catalog', bytes.byteLength, cap)
  if (typeof expectedHash !== 'string' || !SHA256_HEX.test(expectedHash)) throw malformed('catalog hash', 'must be a SHA-256 hex hash')
  const actual = sha256Hex(bytes)
  if (actual !== expectedHash) {
    throw new IntegrityError(`catalog hashes to ${actual}, but the manifest names ${expectedHash}`, { code: ECATALOG })
  }
}

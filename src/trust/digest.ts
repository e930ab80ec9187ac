/**
 * Hashes used by trust. SHA-256 throughout: the repo key, policy and manifest
 * hashes, and catalog hashes are lowercase hex SHA-256 of canonical bytes (or
 * of the catalog's bytes). Git object ids stay SHA-1 and are git/'s business.
 */
import { createHash } from 'node:crypto'

export function sha256Hex (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** lowercase hex SHA-256 (64 characters) */
export const SHA256_HEX = /^[0-9a-f]{64}$/
/** lowercase hex SHA-1 git object id (40 characters) */
export const SHA1_HEX = /^[0-9a-f]{40}$/

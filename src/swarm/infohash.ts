/**
 * The swarm infohash of a repo: the 20-byte DHT key under which the repo's
 * peers announce themselves and are looked up (BEP5 get_peers/announce_peer).
 *
 *     infohash = SHA-256("gtfs-swarm-v1:" + repoKey)[0..20)
 *
 * - repoKey is the repo key as 64 lowercase hex digits (SHA-256 of the genesis
 *   policy), hashed as its ASCII text; other spellings are refused, so a repo
 *   has exactly one swarm.
 * - The domain prefix keeps the swarm apart from any torrent whose infohash
 *   (SHA-1 of an info dict) could collide with a raw repo-key prefix, and the
 *   "v1" lets a future swarm layout move to a new infohash without ambiguity.
 * - 20 bytes because BEP5 infohashes and node ids are 160 bits; truncating
 *   SHA-256 keeps 160 bits of collision resistance against chosen repo keys.
 * - The infohash is public: anyone who knows the repo key can find its peers,
 *   which is the point; trust comes from the signed manifest, not from here.
 */
import { createHash } from 'node:crypto'
import { UsageError } from '../errors.ts'

export const SWARM_INFOHASH_PREFIX = 'gtfs-swarm-v1:'
export const INFOHASH_BYTES = 20

const REPO_KEY = /^[0-9a-f]{64}$/

export function swarmInfohash (repoKey: string): Buffer {
  if (typeof repoKey !== 'string' || !REPO_KEY.test(repoKey)) {
    throw new UsageError('EBADREPOKEY', `not a repo key: ${JSON.stringify(String(repoKey)).slice(0, 80)}`, { hint: 'a repo key is 64 lowercase hex digits' })
  }
  return createHash('sha256').update(SWARM_INFOHASH_PREFIX + repoKey, 'ascii').digest().subarray(0, INFOHASH_BYTES)
}

/** The same, as 40 lowercase hex digits. */
export function swarmInfohashHex (repoKey: string): string {
  return swarmInfohash(repoKey).toString('hex')
}

/**
 * Verifying a policy chain genesis → latest.
 *
 * Rules, checked link by link:
 * - link 0 is a genesis (version 1) whose SHA-256 is the repo key (else
 *   EREPLAY: it is another repo's genesis), signed by a threshold of its own
 *   roots (ETHRESHOLD);
 * - link N+1 has version N+1 (EPOLICYROTATION), `repo` = the repo key
 *   (EREPLAY), `prev` = SHA-256 of link N's bytes (EPREV), `created` not
 *   before link N's, and is signed by a threshold of link N's roots AND a
 *   threshold of its own roots (EPOLICYROTATION): no set of new keys can take
 *   a repo over, and no old key set can hand it to keys that did not agree;
 * - no link is `created` in the future beyond the skew (EFUTURE);
 * - when an accepted state is given, the chain must reach its policy version
 *   (EROLLBACK) with the same hash there (EPOLICYROTATION: a forked history).
 *
 * When keys are judged: the roots of the LATEST link must hold valid,
 * unrevoked, unexpired keys at `now` + skew, so a repo whose current roots
 * expire or are revoked stops until they are renewed or rotated. Every other
 * signature (on superseded links, and the previous roots' hand-over
 * signatures on any link) is history and is judged as openpgp does: the key was valid when it signed,
 * the signature is not from the future. Without this, the expiry of any old
 * root key would make the genesis unverifiable and brick the repo key forever
 * (TUF likewise does not judge intermediate roots at the current time).
 * This costs no security against a thief: whoever holds a secret key can
 * extend its expiry anyway. What voids a leaked root key is a hard revocation
 * (reason "compromised" or none), which openpgp applies retroactively, so it
 * counts here at any date. A soft revocation (retired, superseded) only counts
 * from its own date, like in GnuPG: retiring a key does not void what it
 * signed before, and signature times are the signer's claim.
 */
import type { Key, PublicKey } from 'openpgp'
import { EFUTURE, EPOLICYROTATION, EPREV, EREPLAY, EROLLBACK, ETHRESHOLD, malformed, untrusted } from './codes.ts'
import { SHA256_HEX, sha256Hex } from './digest.ts'
import { indexKeys } from './keys.ts'
import { DEFAULT_MAX_SKEW_SECONDS } from './limits.ts'
import { GENESIS_VERSION, checkClock, nowSeconds, parsePolicy, type Policy, type SignedDocument } from './policy.ts'
import { requireThreshold, verifySignatures } from './signatures.ts'

/** A policy that passed verifyPolicyChain; the input verifyManifest expects. */
export interface VerifiedPolicy {
  /** repo key */
  repo: string
  policy: Policy
  version: number
  /** canonical bytes of the policy */
  bytes: Uint8Array
  /** SHA-256 hex of `bytes` */
  hash: string
}

export interface PolicyChainInput {
  /** the repo key the user asked for */
  repo: string
  /** genesis first, then every version in order */
  links: readonly SignedDocument[]
  /** candidate signer keys (keyring, key bundle); only keys the roots name are used */
  keys: Iterable<Key>
  now: Date
  /** the policy version and hash of the last accepted state, if any */
  accepted?: { policyVersion: number, policyHash: string } | null
  /** seconds; default 300 */
  maxSkewSeconds?: number
}

export async function verifyPolicyChain (input: PolicyChainInput): Promise<VerifiedPolicy> {
  const { repo, links, now } = input
  const skew = input.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS
  if (typeof repo !== 'string' || !SHA256_HEX.test(repo)) throw malformed('repo key', 'must be 64 lowercase hex digits')
  checkClock(now, skew)
  if (!Array.isArray(links) || links.length === 0) throw malformed('policy chain', 'is empty; it must start with the genesis policy')
  const allKeys = await indexKeys(input.keys)
  const nowSec = nowSeconds(now)

  // Parse and link everything first (cheap), then check signatures (costly).
  const parsed: Array<{ policy: Policy, hash: string }> = []
  for (const [i, link] of links.entries()) {
    if (!Array.isArray(link.signatures)) throw malformed('policy chain', `link ${i} has no signature list`)
    const policy = parsePolicy(link.bytes)
    const hash = sha256Hex(link.bytes)
    if (policy.created > nowSec + skew) throw untrusted(EFUTURE, `policy version ${policy.version} is created ${policy.created - nowSec} s in the future`)
    if (i === 0) {
      if (policy.version !== GENESIS_VERSION) throw malformed('policy chain', 'must start with the genesis (version 1) policy')
      if (hash !== repo) throw untrusted(EREPLAY, `the genesis policy hashes to ${hash}, not to repo key ${repo}`)
    } else {
      const prev = parsed[i - 1]!
      if (policy.version !== prev.policy.version + 1) {
        throw untrusted(EPOLICYROTATION, `policy version ${policy.version} follows version ${prev.policy.version}; versions must increase by exactly 1`)
      }
      if (policy.repo !== repo) throw untrusted(EREPLAY, `policy version ${policy.version} belongs to repo ${String(policy.repo)}, not ${repo}`)
      if (policy.prev !== prev.hash) throw untrusted(EPREV, `policy version ${policy.version} does not chain to version ${prev.policy.version}`)
      if (policy.created < prev.policy.created) throw untrusted(EPOLICYROTATION, `policy version ${policy.version} is created before version ${prev.policy.version}`)
    }
    parsed.push({ policy, hash })
  }

  const accepted = input.accepted ?? null
  if (accepted !== null) {
    const pinned = parsed[accepted.policyVersion - 1]
    if (pinned === undefined) {
      throw untrusted(EROLLBACK, `policy chain ends at version ${parsed.length}, older than the accepted version ${accepted.policyVersion}`)
    }
    if (pinned.hash !== accepted.policyHash) {
      throw untrusted(EPOLICYROTATION, `policy version ${accepted.policyVersion} differs from the one accepted before (forked policy history)`)
    }
  }

  const signedBy = new Date((nowSec + skew) * 1000)
  for (const [i, link] of links.entries()) {
    const { policy } = parsed[i]!
    const oldRoots = i === 0 ? null : parsed[i - 1]!.policy.roots
    // Both checks know all keys of both root sets, so a signature by the other
    // set is valid-but-not-counted rather than "unknown signer".
    const keys = pick(allKeys, [...policy.roots.signers, ...(oldRoots?.signers ?? [])])
    const history = await verifySignatures(link.bytes, link.signatures, keys, signedBy, { historical: true })
    const current = i === links.length - 1 ? await verifySignatures(link.bytes, link.signatures, keys, signedBy) : history
    if (oldRoots === null) {
      requireThreshold(current, policy.roots, 'genesis policy roots', ETHRESHOLD)
    } else {
      requireThreshold(history, oldRoots, `policy version ${policy.version}: previous roots`, EPOLICYROTATION)
      requireThreshold(current, policy.roots, `policy version ${policy.version}: new roots`, EPOLICYROTATION)
    }
  }

  const latest = parsed[parsed.length - 1]!
  const bytes = links[links.length - 1]!.bytes
  return { repo, policy: latest.policy, version: latest.policy.version, bytes, hash: latest.hash }
}

/** The subset of `keys` with the given fingerprints. */
export function pick (keys: ReadonlyMap<string, PublicKey>, fprs: Iterable<string>): Map<string, PublicKey> {
  const out = new Map<string, PublicKey>()
  for (const fpr of fprs) {
    const key = keys.get(fpr)
    if (key !== undefined) out.set(fpr, key)
  }
  return out
}

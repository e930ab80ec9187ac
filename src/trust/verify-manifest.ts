/**
 * verifyManifest: the function every mount runs before anything reaches the
 * FUSE view. Checks, in the order of DESIGN.md's security rules:
 *
 *  1. size under cap, before parsing (ETOOLARGE), then strict parse (EMALFORMED)
 *  2. repo key matches the policy's (EREPLAY)
 *  3. made under exactly the policy given (EPOLICYMISMATCH); that policy is
 *     not older than the accepted one (EROLLBACK) nor a fork of it (EPOLICYROTATION)
 *  4. every ref's rule is met by unique valid signers (ETHRESHOLD, or the
 *     precise EBADSIG / EUNKNOWNSIGNER / EKEYREVOKED / EKEYEXPIRED); a ref
 *     that disappears needs its rule met too; then the local trust override,
 *     if set (ELOCALTRUST)
 *  5. seq above the accepted one (EROLLBACK); an equal seq must be
 *     byte-identical (ESEQCONFLICT) and is then accepted as a no-op
 *  6. `prev` chains to the accepted manifest (EPREV)
 *  7. `created` not in the future beyond the skew (EFUTURE)
 *  8. not expired at `now` (EEXPIRED)
 *  9. every ref that moved is a fast-forward unless its rule allows rewrites
 *     (ENONFF); deleting a ref counts as a rewrite, since otherwise a ref
 *     could be deleted and re-created at any commit in two steps
 *
 * Decisions:
 * - Signatures are judged at `now` + skew: a signature whose clock ran up to
 *   the skew ahead still counts, and a key expiring within the skew is already
 *   treated as expired (the safe side).
 * - seq jumps (seq > accepted + 1): `prev` is not taken on trust. The caller
 *   passes the skipped manifests (`intermediates`, seq accepted+1 … seq−1,
 *   oldest first); they must hash-chain from the accepted manifest to this
 *   one's `prev` (EPREV otherwise). They need no signatures and may have
 *   expired: the signed newest manifest commits to them by hash.
 * - With no accepted state (first mount), seq and prev cannot be checked:
 *   trust on first use of the freshest manifest the policy accepts.
 * - Local trust only ever adds a requirement: a manifest must satisfy the
 *   policy AND the override. A "fork" signed only by locally trusted keys is
 *   accepted only if those keys also meet the policy's rules; a real fork to
 *   other signers is a new genesis, hence a new repo key.
 */
import type { Key } from 'openpgp'
import {
  EEXPIRED, EFUTURE, ELOCALTRUST, ENONFF, EPOLICYMISMATCH, EPOLICYROTATION, EPREV, EREPLAY, EROLLBACK, ESEQCONFLICT,
  malformed, untrusted
} from './codes.ts'
import { Fields } from './fields.ts'
import { indexKeys } from './keys.ts'
import { DEFAULT_MAX_SKEW_SECONDS } from './limits.ts'
import { manifestHash, parseManifest, type Manifest } from './manifest.ts'
import { checkClock, nowSeconds, parseSignerSet } from './policy.ts'
import { pick, type VerifiedPolicy } from './policy-chain.ts'
import { ruleForRef, type SignerSet } from './ref-rules.ts'
import { requireThreshold, verifySignatures } from './signatures.ts'
import type { AcceptedState } from './accepted-state.ts'

export interface VerifyManifestInput {
  /** the manifest's canonical bytes, as received */
  bytes: Uint8Array
  /** detached signatures: one per signer, or packet lists holding several */
  signatures: readonly Uint8Array[]
  /** from verifyPolicyChain */
  policy: VerifiedPolicy
  /** candidate signer keys; only keys the policy (or local trust) names are used */
  keys: Iterable<Key>
  /** the last accepted state of this repo, or null on first use */
  accepted: AcceptedState | null
  now: Date
  /** manifests skipped since the accepted one (see the module comment) */
  intermediates?: readonly Uint8Array[]
}

export interface VerifyManifestOptions {
  /** seconds; default 300 */
  maxSkewSeconds?: number
  /** true when `newCommit` descends from (or equals) `oldCommit`; the caller asks git */
  isAncestor: (oldCommit: string, newCommit: string) => Promise<boolean>
  /** `gtfs trust set`: signers this user requires on top of the policy */
  localTrust?: SignerSet | null
}

export interface VerifiedManifest {
  manifest: Manifest
  /** SHA-256 hex of the manifest bytes */
  hash: string
  /** the state to persist (saveAcceptedState) */
  state: AcceptedState
  /** true when this is the already-accepted manifest again (equal seq, same bytes) */
  unchanged: boolean
  /** primary fingerprints (uppercase, sorted) whose signatures over the manifest are valid */
  signers: string[]
}

export async function verifyManifest (input: VerifyManifestInput, options: VerifyManifestOptions): Promise<VerifiedManifest> {
  const { bytes, policy, accepted, now } = input
  const skew = options.maxSkewSeconds ?? DEFAULT_MAX_SKEW_SECONDS
  checkClock(now, skew)
  if (!Array.isArray(input.signatures)) throw malformed('signatures', 'must be a list of byte arrays')
  const nowSec = nowSeconds(now)

  // 1. size cap, then parse
  const manifest = parseManifest(bytes)
  const hash = manifestHash(bytes)

  // 2. repo key
  if (manifest.repo !== policy.repo) throw untrusted(EREPLAY, `manifest is for repo ${manifest.repo}, not ${policy.repo}`)
  if (accepted !== null && accepted.repo !== policy.repo) throw untrusted(EREPLAY, `accepted state is for repo ${accepted.repo}, not ${policy.repo}`)

  // 3. policy version and hash
  if (manifest.policyVersion !== policy.version || manifest.policyHash !== policy.hash) {
    throw untrusted(EPOLICYMISMATCH, `manifest was made under policy version ${manifest.policyVersion}, not the verified version ${policy.version}`)
  }
  if (accepted !== null) {
    if (policy.version < accepted.policyVersion) throw untrusted(EROLLBACK, `policy version ${policy.version} is older than the accepted version ${accepted.policyVersion}`)
    if (policy.version === accepted.policyVersion && policy.hash !== accepted.policyHash) {
      throw untrusted(EPOLICYROTATION, `policy version ${policy.version} differs from the one accepted before`)
    }
  }

  // 4. signatures: every ref's rule (and deleted refs' rules), then local trust
  const localTrust = options.localTrust ?? null
  if (localTrust !== null) parseSignerSet(new Fields('local trust'), { signers: [...localTrust.signers], threshold: localTrust.threshold }, 'local trust')
  const { roots, rules } = policy.policy
  const named = [...roots.signers, ...rules.flatMap(r => r.signers), ...(localTrust?.signers ?? [])]
  const keys = pick(await indexKeys(input.keys), named)
  const check = await verifySignatures(bytes, input.signatures, keys, new Date((nowSec + skew) * 1000))
  const deleted = accepted === null ? [] : Object.keys(accepted.refs).filter(ref => !Object.hasOwn(manifest.refs, ref))
  for (const ref of [...Object.keys(manifest.refs), ...deleted]) {
    const rule = ruleForRef(rules, roots, ref)
    requireThreshold(check, rule, `${ref} (rule ${rule.pattern ?? 'default: roots'})`)
  }
  if (localTrust !== null) requireThreshold(check, localTrust, 'local trust override', ELOCALTRUST)

  // 5. seq
  let unchanged = false
  if (accepted !== null) {
    if (manifest.seq < accepted.seq) throw untrusted(EROLLBACK, `manifest seq ${manifest.seq} is below the accepted seq ${accepted.seq}`)
    if (manifest.seq === accepted.seq) {
      if (hash !== accepted.manifestHash) throw untrusted(ESEQCONFLICT, `manifest seq ${manifest.seq} differs from the accepted manifest with the same seq`)
      unchanged = true
    }
  }

  // 6. prev
  if (accepted !== null && !unchanged) checkPrevChain(manifest, accepted, input.intermediates ?? [])

  // 7, 8. time
  if (manifest.created > nowSec + skew) throw untrusted(EFUTURE, `manifest is created ${manifest.created - nowSec} s in the future (skew allowed: ${skew} s)`)
  if (nowSec >= manifest.expires) throw untrusted(EEXPIRED, `manifest expired ${nowSec - manifest.expires} s ago`, 'the publisher must re-sign; a stale manifest could hide updates')

  // 9. fast-forward
  if (accepted !== null && !unchanged) {
    for (const [ref, oldCommit] of Object.entries(accepted.refs)) {
      const rule = ruleForRef(rules, roots, ref)
      if (rule.allowRewrite) continue
      const entry = Object.hasOwn(manifest.refs, ref) ? manifest.refs[ref] : undefined
      if (entry === undefined) throw untrusted(ENONFF, `${ref} was deleted, and its rule does not allow rewrites`)
      if (entry.commit === oldCommit) continue
      if (!(await options.isAncestor(oldCommit, entry.commit))) {
        throw untrusted(ENONFF, `${ref} moved from ${oldCommit} to ${entry.commit}, which is not a fast-forward`)
      }
    }
  }

  const state: AcceptedState = {
    repo: policy.repo,
    policyVersion: policy.version,
    policyHash: policy.hash,
    seq: manifest.seq,
    manifestHash: hash,
    refs: Object.fromEntries(Object.entries(manifest.refs).map(([ref, e]) => [ref, e.commit]))
  }
  return { manifest, hash, state, unchanged, signers: [...check.signers].sort() }
}

function checkPrevChain (manifest: Manifest, accepted: AcceptedState, intermediates: readonly Uint8Array[]): void {
  const gap = manifest.seq - accepted.seq - 1
  if (gap > 0 && intermediates.length !== gap) {
    throw untrusted(EPREV, `manifest seq ${manifest.seq} skips ${gap} manifest(s) after the accepted seq ${accepted.seq}; ${intermediates.length} were given to chain them`)
  }
  let expected = accepted.manifestHash
  for (const [i, bytes] of (gap > 0 ? intermediates : []).entries()) {
    let m: Manifest
    try {
      m = parseManifest(bytes)
    } catch (err) {
      throw untrusted(EPREV, `intermediate manifest ${i} cannot be read: ${(err as Error).message}`)
    }
    if (m.repo !== accepted.repo || m.seq !== accepted.seq + 1 + i || m.prev !== expected) {
      throw untrusted(EPREV, `intermediate manifest seq ${m.seq} does not chain to seq ${accepted.seq + i}`)
    }
    expected = manifestHash(bytes)
  }
  if (manifest.prev !== expected) {
    throw untrusted(EPREV, `manifest seq ${manifest.seq} does not chain to the accepted manifest (prev mismatch)`)
  }
}

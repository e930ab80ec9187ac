/**
 * Pending documents: what still needs signatures, and promoting a pending
 * policy or manifest to complete once its requirements are met. Shared by
 * `gtfs sign` (sign-pending.ts) and `gtfs manifest import` (exchange.ts).
 */
import type { PublicKey } from 'openpgp'
import { GtfsError } from '../errors.ts'
import {
  parseManifest, sha256Hex, verifyPolicyChain, type SignedDocument, type VerifiedPolicy
} from '../trust/index.ts'
import type { RepoRecords } from './records.ts'
import {
  isComplete, manifestRequirements, policyRequirements, progressOf, signWithLocalKeys, type PassphraseSource, type Progress,
  type Requirement
} from './signing.ts'
import type { Keyring } from '../trust/index.ts'

export interface PendingStatus {
  /** progress of the pending policy, null when none is pending (after promotion) */
  policy: Progress[] | null
  manifest: Progress[] | null
  /** policy version / manifest seq that became complete now */
  promotedPolicy?: number
  promotedManifest?: number
}

/** The verified policy a pending manifest was made under (a prefix of the chain). */
export async function policyOfManifest (records: RepoRecords, doc: SignedDocument, keys: PublicKey[], now: Date): Promise<VerifiedPolicy> {
  const m = parseManifest(doc.bytes)
  const links = records.policy.slice(0, m.policyVersion)
  if (links.length !== m.policyVersion || sha256Hex(links[links.length - 1].bytes) !== m.policyHash) {
    throw new GtfsError('EPOLICYMISMATCH', `the pending manifest was made under policy version ${m.policyVersion}, which this machine does not have complete`,
      { hint: 'import the policy (gtfs manifest import) from the machine that published' })
  }
  return await verifyPolicyChain({ repo: records.repo, links, keys, now })
}

async function manifestReqs (records: RepoRecords, doc: SignedDocument, keys: PublicKey[], now: Date): Promise<Requirement[]> {
  const policy = await policyOfManifest(records, doc, keys, now)
  const prevRefs = records.manifest === null ? [] : Object.keys(parseManifest(records.manifest.bytes).refs)
  return manifestRequirements(policy.policy, parseManifest(doc.bytes), prevRefs)
}

/** Signs what is pending with this machine's keys; returns who signed. */
export async function signPendingDocs (
  records: RepoRecords, keyring: Keyring, passphrase: PassphraseSource, now: Date
): Promise<{ policy: string[], manifest: string[], promotedPolicy?: number }> {
  const out: { policy: string[], manifest: string[], promotedPolicy?: number } = { policy: [], manifest: [] }
  const keys = await keyring.publicKeys()
  if (records.pendingPolicy !== null) {
    const r = await signWithLocalKeys(records.pendingPolicy, policyRequirements(records.policy, records.pendingPolicy), keyring, passphrase, now)
    records.pendingPolicy = r.doc
    out.policy = r.signedNow
  }
  // A pending genesis or policy update may complete first; the manifest is judged under its own version.
  const early = await settle(records, keys, now)
  if (early.promotedPolicy !== undefined) out.promotedPolicy = early.promotedPolicy
  if (records.pendingManifest !== null) {
    const r = await signWithLocalKeys(records.pendingManifest, await manifestReqs(records, records.pendingManifest, keys, now), keyring, passphrase, now)
    records.pendingManifest = r.doc
    out.manifest = r.signedNow
  }
  return out
}

/** Promotes pending documents whose requirements are met; reports the rest. */
export async function settle (records: RepoRecords, keys: PublicKey[], now: Date): Promise<PendingStatus> {
  const status: PendingStatus = { policy: null, manifest: null }
  if (records.pendingPolicy !== null) {
    const pending = records.pendingPolicy
    const progress = await progressOf(pending, policyRequirements(records.policy, pending), keys, now)
    if (isComplete(progress)) {
      await verifyPolicyChain({ repo: records.repo, links: [...records.policy, pending], keys, now })
      records.policy.push(pending)
      records.pendingPolicy = null
      status.promotedPolicy = records.policy.length
    } else {
      status.policy = progress
    }
  }
  if (records.pendingManifest !== null && records.policy.length > 0) {
    const pending = records.pendingManifest
    const progress = await progressOf(pending, await manifestReqs(records, pending, keys, now), keys, now)
    if (isComplete(progress)) {
      const m = parseManifest(pending.bytes)
      records.manifest = pending
      records.history.set(m.seq, pending.bytes)
      records.pendingManifest = null
      status.promotedManifest = m.seq
    } else {
      status.manifest = progress
    }
  } else if (records.pendingManifest !== null) {
    status.manifest = []
  }
  return status
}

/**
 * `gtfs sign <repo key>`: adds this machine's signatures to the repo's
 * pending policy and pending manifest (only by keys the governing rules name
 * that have not signed yet), and promotes what is then complete.
 */
import { GtfsError } from '../errors.ts'
import { parseManifest, parsePolicy } from '../trust/index.ts'
import { settle, signPendingDocs, type PendingStatus } from './pending.ts'
import { saveRecords } from './records.ts'
import type { Session } from './session.ts'
import type { PassphraseSource } from './signing.ts'

export interface SignResult extends PendingStatus {
  repo: string
  signedPolicy: string[]
  signedManifest: string[]
  /** what was pending before signing */
  policyVersion: number | null
  manifestSeq: number | null
}

export async function signPending (s: Session, repo: string, passphrase: PassphraseSource, now = new Date()): Promise<SignResult> {
  const records = await s.records(repo)
  if (records.pendingPolicy === null && records.pendingManifest === null) {
    throw new GtfsError('ENOPENDING', `repo ${records.repo} has nothing waiting for signatures`, { hint: 'import what to sign first: gtfs manifest import <file>' })
  }
  const policyVersion = records.pendingPolicy === null ? null : parsePolicy(records.pendingPolicy.bytes).version
  const manifestSeq = records.pendingManifest === null ? null : parseManifest(records.pendingManifest.bytes).seq
  const signed = await signPendingDocs(records, s.keyring, passphrase, now)
  if (signed.policy.length + signed.manifest.length === 0) {
    throw new GtfsError('ENOSIGNER', 'no secret key on this machine can add a signature to what is pending (none is named, or they all signed already)',
      { hint: '`gtfs key list` shows the keys here; `gtfs trust show <repo key>` who the policy names' })
  }
  const status = await settle(records, await s.publicKeys(), now)
  if (signed.promotedPolicy !== undefined) status.promotedPolicy = signed.promotedPolicy
  await saveRecords(s.home, s.store, records)
  return { repo: records.repo, signedPolicy: signed.policy, signedManifest: signed.manifest, policyVersion, manifestSeq, ...status }
}

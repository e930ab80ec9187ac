/**
 * `gtfs policy update`: the next policy version. Fields not given are carried
 * over. It takes effect only when a threshold of the previous roots AND a
 * threshold of the new roots signed it (trust/policy-chain.ts); until then it
 * is the repo's pending policy, replacing any earlier pending one, and travels
 * between machines like a pending manifest.
 */
import { GtfsError, NotFoundError } from '../errors.ts'
import {
  makeNextPolicy, policyBytes, verifyPolicyChain, type RefRule, type SignerSet
} from '../trust/index.ts'
import { saveRecords } from './records.ts'
import type { Session } from './session.ts'
import { isComplete, policyRequirements, progressOf, signWithLocalKeys, type PassphraseSource, type Progress } from './signing.ts'

export interface PolicyUpdateOptions {
  repo: string
  roots?: SignerSet
  rules?: RefRule[]
  passphrase: PassphraseSource
  now?: Date
}

export interface PolicyUpdateResult {
  repo: string
  version: number
  complete: boolean
  progress: Progress[]
  signedNow: string[]
  replacedPending: boolean
}

export async function updatePolicy (s: Session, opts: PolicyUpdateOptions): Promise<PolicyUpdateResult> {
  const now = opts.now ?? new Date()
  const records = await s.records(opts.repo)
  const last = records.policy.at(-1)
  if (last === undefined) {
    throw new GtfsError('EPENDING', 'the genesis policy is still collecting signatures; it cannot be updated yet', { hint: 'gtfs manifest export, then gtfs sign on the other roots\' machines' })
  }
  for (const fpr of new Set([...(opts.roots?.signers ?? []), ...(opts.rules ?? []).flatMap(r => r.signers)])) {
    if (!(await s.keyring.has(fpr))) throw new NotFoundError(`signer ${fpr} is not in the keyring`, { hint: 'import its public key first: gtfs key import <file>' })
  }
  const changes = {
    ...(opts.roots === undefined ? {} : { roots: opts.roots }),
    ...(opts.rules === undefined ? {} : { rules: opts.rules })
  }
  const bytes = policyBytes(makeNextPolicy(last.bytes, changes))
  const reqs = policyRequirements(records.policy, { bytes, signatures: [] })
  const { doc, signedNow } = await signWithLocalKeys({ bytes, signatures: [] }, reqs, s.keyring, opts.passphrase, now)
  const keys = await s.publicKeys()
  const progress = await progressOf(doc, reqs, keys, now)
  const complete = isComplete(progress)
  const replacedPending = records.pendingPolicy !== null
  if (complete) {
    await verifyPolicyChain({ repo: records.repo, links: [...records.policy, doc], keys, now })
    records.policy.push(doc)
    records.pendingPolicy = null
  } else {
    records.pendingPolicy = doc
  }
  await saveRecords(s.home, s.store, records)
  return { repo: records.repo, version: records.policy.length + (complete ? 0 : 1), complete, progress, signedNow, replacedPending }
}

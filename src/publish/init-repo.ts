/**
 * `gtfs init`: a new repo. Generates the DHT pointer's ed25519 key pair
 * (node:crypto; the secret stays in `<data>/repos/<repo>/pointer.key`, mode
 * 0600), writes the genesis policy (its SHA-256 is the repo key), and signs it
 * with the root signers whose secret keys are here. When the roots'
 * threshold needs signers from other machines, the genesis is pending: the
 * repo key is already fixed (signatures are not part of the hash) and the
 * genesis travels with `gtfs manifest export` until enough roots signed.
 */
import { generateKeyPair } from 'node:crypto'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { GtfsError, NotFoundError } from '../errors.ts'
import {
  makeGenesisPolicy, nowSeconds, policyBytes, repoKeyOf, verifyPolicyChain, writeFileAtomic, type RefRule, type SignerSet
} from '../trust/index.ts'
import { emptyRecords, loadRecords, repoDir, saveRecords } from './records.ts'
import type { Session } from './session.ts'
import { isComplete, policyRequirements, progressOf, signWithLocalKeys, type PassphraseSource, type Progress } from './signing.ts'

export interface InitOptions {
  /** the git repository `gtfs publish` will publish from, or null */
  gitDir: string | null
  roots: SignerSet
  rules: RefRule[]
  passphrase: PassphraseSource
  now?: Date
}

export interface InitResult {
  repo: string
  complete: boolean
  progress: Progress[]
  signedNow: string[]
  pointerKey: string
}

export async function initRepo (s: Session, opts: InitOptions): Promise<InitResult> {
  const now = opts.now ?? new Date()
  const named = [...new Set([...opts.roots.signers, ...opts.rules.flatMap(r => r.signers)])]
  for (const fpr of named) {
    if (!(await s.keyring.has(fpr))) {
      throw new NotFoundError(`signer ${fpr} is not in the keyring`, { hint: 'import its public key first: gtfs key import <file>' })
    }
  }
  const { publicKey, privateKey } = await promisify(generateKeyPair)('ed25519')
  const jwk = publicKey.export({ format: 'jwk' })
  const pointerKey = Buffer.from(String(jwk.x), 'base64url').toString('hex')
  const policy = makeGenesisPolicy({ roots: opts.roots, rules: opts.rules, pointerKey, created: nowSeconds(now) })
  const bytes = policyBytes(policy)
  const repo = repoKeyOf(bytes)
  if ((await loadRecords(s.home, s.store, repo)) !== null) throw new GtfsError('EEXIST', `repo ${repo} exists already`)

  const reqs = policyRequirements([], { bytes, signatures: [] })
  const { doc, signedNow } = await signWithLocalKeys({ bytes, signatures: [] }, reqs, s.keyring, opts.passphrase, now)
  const keys = await s.publicKeys()
  const progress = await progressOf(doc, reqs, keys, now)
  const complete = isComplete(progress)
  if (complete) await verifyPolicyChain({ repo, links: [doc], keys, now })

  await writeFileAtomic(join(repoDir(s.home, repo), 'pointer.key'), privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 })
  const records = emptyRecords(repo, opts.gitDir)
  if (complete) records.policy = [doc]
  else records.pendingPolicy = doc
  await saveRecords(s.home, s.store, records)
  return { repo, complete, progress, signedNow, pointerKey }
}

/**
 * Who must sign a document, who has, and signing with the keys of this
 * machine. A document (genesis, policy update, manifest) is COMPLETE when each
 * of its requirements is met by unique valid signers; until then it is
 * PENDING and travels between machines (bundle.ts) collecting signatures.
 */
import type { PublicKey } from 'openpgp'
import { UntrustedError } from '../errors.ts'
import {
  countSigners, DEFAULT_MAX_SKEW_SECONDS, EPASSPHRASE, indexKeys, parsePolicy, ruleForRef, signDetached, verifySignatures,
  type Keyring, type KeyInfo, type Manifest, type Policy, type SignedDocument
} from '../trust/index.ts'

export interface Requirement {
  /** e.g. "roots", "previous roots", "refs/heads/* (refs/heads/main)" */
  what: string
  signers: string[]
  threshold: number
}

export interface Progress extends Requirement {
  /** signers named by this requirement whose signature verified */
  signed: string[]
  met: boolean
}

/** Signers a policy link needs: its own roots, and for an update the previous version's roots too. */
export function policyRequirements (chain: readonly SignedDocument[], link: SignedDocument): Requirement[] {
  const policy = parsePolicy(link.bytes)
  const reqs: Requirement[] = [{ what: policy.version === 1 ? 'genesis roots' : `new roots (policy version ${policy.version})`, ...policy.roots }]
  if (policy.version > 1) {
    const prev = chain[policy.version - 2]
    if (prev === undefined) throw new UntrustedError('EPOLICYROTATION', `policy version ${policy.version} does not follow the chain this machine has (version ${chain.length})`)
    reqs.unshift({ what: `previous roots (policy version ${policy.version - 1})`, ...parsePolicy(prev.bytes).roots })
  }
  return reqs
}

/**
 * Signers a manifest needs under `policy`: for every ref it names, and every
 * ref of `previousRefs` it drops, the rule that governs it (one requirement
 * per rule).
 */
export function manifestRequirements (policy: Policy, manifest: Manifest, previousRefs: readonly string[] = []): Requirement[] {
  const byRule = new Map<string, Requirement & { refs: string[] }>()
  const dropped = previousRefs.filter(r => !Object.hasOwn(manifest.refs, r))
  for (const ref of [...Object.keys(manifest.refs).sort(), ...dropped]) {
    const rule = ruleForRef(policy.rules, policy.roots, ref)
    const key = rule.pattern ?? ''
    const seen = byRule.get(key)
    if (seen !== undefined) { seen.refs.push(ref); continue }
    byRule.set(key, { what: '', signers: rule.signers, threshold: rule.threshold, refs: [ref] })
  }
  return [...byRule.entries()].map(([pattern, r]) => ({
    what: `${pattern === '' ? 'roots' : `rule ${pattern}`} (${r.refs.join(', ')})`,
    signers: r.signers,
    threshold: r.threshold
  }))
}

/** How far each requirement is met by `doc`'s signatures at `now`. */
export async function progressOf (doc: SignedDocument, reqs: Requirement[], keys: Iterable<PublicKey>, now: Date): Promise<Progress[]> {
  const named = new Set(reqs.flatMap(r => r.signers))
  const all = await indexKeys(keys)
  const picked = new Map([...all].filter(([fpr]) => named.has(fpr)))
  // As verifyManifest does: judged at now + skew, so a signature made a moment
  // after `now` (or by a clock slightly ahead) counts.
  const check = await verifySignatures(doc.bytes, doc.signatures, picked, new Date(now.getTime() + DEFAULT_MAX_SKEW_SECONDS * 1000))
  return reqs.map(r => {
    const signed = r.signers.filter(f => check.signers.has(f))
    return { ...r, signed, met: countSigners(check, r) >= r.threshold }
  })
}

export const isComplete = (progress: Progress[]): boolean => progress.every(p => p.met)

/** Asks for the passphrase of a protected secret key; undefined when it cannot ask. */
export type PassphraseSource = (key: KeyInfo) => Promise<string | undefined>

/**
 * Adds a signature by every secret key in `keyring` that `reqs` name and that
 * has not signed yet. Returns the new signature list and who signed now.
 */
export async function signWithLocalKeys (
  doc: SignedDocument, reqs: Requirement[], keyring: Keyring, passphrase: PassphraseSource, now: Date
): Promise<{ doc: SignedDocument, signedNow: string[] }> {
  const named = new Set(reqs.flatMap(r => r.signers))
  const local = (await keyring.list()).filter(k => k.hasSecret && named.has(k.fingerprint))
  const already = new Set((await progressOf(doc, reqs, await keyring.publicKeys(), now)).flatMap(p => p.signed))
  const signatures = [...doc.signatures]
  const signedNow: string[] = []
  for (const info of local) {
    if (already.has(info.fingerprint)) continue
    let pass: string | undefined
    if (info.secretProtected) {
      pass = await passphrase(info)
      if (pass === undefined) {
        throw new UntrustedError(EPASSPHRASE, `secret key ${info.fingerprint} is protected by a passphrase`,
          { hint: 'give it with --passphrase-file <file>, or run the command on a terminal to be asked' })
      }
    }
    const key = await keyring.secretKey(info.fingerprint, pass)
    signatures.push(await signDetached(doc.bytes, key))
    signedNow.push(info.fingerprint)
  }
  return { doc: { bytes: doc.bytes, signatures }, signedNow }
}

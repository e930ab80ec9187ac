/**
 * `gtfs manifest export` / `import`: a repo's documents to and from a bundle
 * file (bundle.ts), so a pending genesis, policy update or manifest can
 * collect signatures on other machines.
 *
 * Import merges into this machine's records, never trusting the file:
 * - the genesis must hash to the repo key (EREPLAY); the complete policy
 *   chains must agree link by link (EPOLICYROTATION: forked history) and the
 *   merged chain must verify;
 * - signatures on the same bytes are united; two different pending documents
 *   for the same version or seq are a conflict (ECONFLICT), two different
 *   complete manifests with one seq are equivocation (ESEQCONFLICT);
 * - a pending document whose requirements are now met becomes complete;
 * - catalogs must match their hashes (ECATALOG, in bundle.ts);
 * - public keys are added to the keyring only for signers the policies name
 *   (a key in the keyring grants nothing by itself).
 */
import { stat } from 'node:fs/promises'
import { GtfsError } from '../errors.ts'
import {
  EPOLICYROTATION, EREPLAY, ESEQCONFLICT, manifestHash, parseManifest, parsePolicy, readKeyBundle, sha256Hex, untrusted,
  verifyPolicyChain, writeKeyBundle, type SignedDocument
} from '../trust/index.ts'
import type { Key } from 'openpgp'
import { decodeBundle, encodeBundle, type Bundle } from './bundle.ts'
import { settle, type PendingStatus } from './pending.ts'
import { emptyRecords, getCatalog, loadRecords, mergeSignatures, recordsBytes, saveRecords, type RepoRecords } from './records.ts'
import type { Session } from './session.ts'

/**
 * A token that changes whenever what `exportBundle(s, repo, { completeOnly:
 * true })` makes may change: the records file's bytes (they name every
 * document by blob id) and the keyring directory's change time (keys are
 * written atomically, by rename, so every key stored moves it). null when the
 * keyring changed too recently to tell a second write within the same clock
 * tick apart, or when there are no records.
 */
export async function exportToken (s: Session, repo: string, now = Date.now()): Promise<string | null> {
  const records = await recordsBytes(s.home, repo)
  if (records === null) return null
  const keys = await stat(s.keyring.dir).catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return null; throw err })
  if (keys !== null && now - keys.ctimeMs < KEYRING_SETTLE_MS) return null
  return `${keys === null ? '-' : `${keys.ino}:${keys.ctimeMs}`}\n${records.toString('latin1')}`
}

/** ms after a keyring change during which exportToken gives no token */
export const KEYRING_SETTLE_MS = 2000

/**
 * The bundle of `repo` as this machine has it. `completeOnly` leaves out what
 * is still collecting signatures: what a seeder serves to the swarm.
 */
export async function exportBundle (s: Session, repo: string, opts: { completeOnly?: boolean } = {}): Promise<Uint8Array> {
  const r = await s.records(repo)
  if (opts.completeOnly === true) {
    r.pendingManifest = null
    r.pendingPolicy = null
  }
  const catalogs = new Map<string, Uint8Array>()
  for (const doc of [r.manifest, r.pendingManifest]) {
    if (doc === null) continue
    for (const e of Object.values(parseManifest(doc.bytes).refs)) {
      if (e.catalog === null || catalogs.has(e.catalog)) continue
      const bytes = await getCatalog(s.store, r, e.catalog)
      if (bytes !== null) catalogs.set(e.catalog, bytes)
    }
  }
  const named = new Set([...r.policy, ...(r.pendingPolicy === null ? [] : [r.pendingPolicy])].flatMap(d => {
    const p = parsePolicy(d.bytes)
    return [...p.roots.signers, ...p.rules.flatMap(x => x.signers)]
  }))
  const keys: Key[] = []
  for (const fpr of named) if (await s.keyring.has(fpr)) keys.push(await s.keyring.publicKey(fpr))
  return encodeBundle({
    repo: r.repo, policy: r.policy, pendingPolicy: r.pendingPolicy, manifest: r.manifest, pendingManifest: r.pendingManifest,
    history: r.history, catalogs, keys: writeKeyBundle(keys)
  })
}

export interface ImportResult extends PendingStatus {
  repo: string
  policyVersion: number
  seq: number | null
  created: boolean
}

export async function importBundle (s: Session, bytes: Uint8Array, now = new Date()): Promise<ImportResult> {
  return await importDecodedBundle(s, decodeBundle(bytes), now)
}

/** importBundle of a decoded bundle. */
export async function importDecodedBundle (s: Session, b: Bundle, now = new Date()): Promise<ImportResult> {
  const existing = await loadRecords(s.home, s.store, b.repo)
  const records = existing ?? emptyRecords(b.repo)
  const bundleKeys = b.keys.byteLength === 0 ? [] : await readKeyBundle(b.keys)
  const named = namedSigners(b)
  for (const key of bundleKeys) if (named.has(key.getFingerprint().toUpperCase())) await s.keyring.import(key.armor())
  const keys = await s.publicKeys()

  checkGenesis(b)
  records.policy = mergeChains(records.policy, b.policy)
  if (records.policy.length > 0) await verifyPolicyChain({ repo: b.repo, links: records.policy, keys, now })
  records.pendingPolicy = mergePending(records.policy, [records.pendingPolicy, b.pendingPolicy], d => parsePolicy(d.bytes).version, 'policy version')

  for (const [seq, m] of b.history) {
    const ours = records.history.get(seq)
    if (ours !== undefined && sha256Hex(ours) !== sha256Hex(m)) throw untrusted(ESEQCONFLICT, `two different manifests with seq ${seq}`)
    records.history.set(seq, m)
  }
  records.manifest = latestComplete(records.manifest, b.manifest)
  if (records.manifest !== null) {
    const m = parseManifest(records.manifest.bytes)
    if (m.repo !== b.repo) throw untrusted(EREPLAY, `the manifest is for repo ${m.repo}, not ${b.repo}`)
    records.history.set(m.seq, records.manifest.bytes)
  }
  const latestSeq = records.manifest === null ? 0 : parseManifest(records.manifest.bytes).seq
  const pending = [records.pendingManifest, b.pendingManifest].filter((d): d is SignedDocument => d !== null)
  for (const d of pending) if (parseManifest(d.bytes).repo !== b.repo) throw untrusted(EREPLAY, `a pending manifest is for another repo than ${b.repo}`)
  records.pendingManifest = mergePendingManifest(records, pending, latestSeq)

  for (const [hash, data] of b.catalogs) {
    if (!records.catalogs.has(hash)) records.catalogs.set(hash, await s.store.put(data))
  }
  const status = await settle(records, keys, now)
  await saveRecords(s.home, s.store, records)
  return {
    repo: b.repo,
    policyVersion: records.policy.length,
    seq: records.manifest === null ? null : parseManifest(records.manifest.bytes).seq,
    created: existing === null,
    ...status
  }
}

function namedSigners (b: Bundle): Set<string> {
  return new Set([...b.policy, ...(b.pendingPolicy === null ? [] : [b.pendingPolicy])].flatMap(d => {
    const p = parsePolicy(d.bytes)
    return [...p.roots.signers, ...p.rules.flatMap(x => x.signers)]
  }))
}

function checkGenesis (b: Bundle): void {
  const genesis = b.policy[0] ?? b.pendingPolicy
  if (genesis === null || genesis === undefined) throw new GtfsError('EMALFORMED', 'the bundle holds no policy')
  if (b.policy.length === 0 && parsePolicy(genesis.bytes).version !== 1) throw new GtfsError('EMALFORMED', 'the bundle holds no genesis policy')
  if (parsePolicy(genesis.bytes).version === 1 && sha256Hex(genesis.bytes) !== b.repo) {
    throw untrusted(EREPLAY, `the bundle's genesis policy hashes to ${sha256Hex(genesis.bytes)}, not to repo key ${b.repo}`)
  }
}

/** Link-by-link union of two complete chains; EPOLICYROTATION when they differ. */
function mergeChains (ours: SignedDocument[], theirs: SignedDocument[]): SignedDocument[] {
  const out: SignedDocument[] = []
  for (let i = 0; i < Math.max(ours.length, theirs.length); i++) {
    const a = ours[i]
    const t = theirs[i]
    if (a !== undefined && t !== undefined) {
      if (sha256Hex(a.bytes) !== sha256Hex(t.bytes)) throw untrusted(EPOLICYROTATION, `policy version ${i + 1} differs between this machine and the bundle (forked policy history)`)
      out.push({ bytes: a.bytes, signatures: mergeSignatures(a.signatures, t.signatures) })
    } else {
      out.push((a ?? t)!)
    }
  }
  return out
}

/** The one pending policy left after merging; signatures on the chain's own links are folded in. */
function mergePending (chain: SignedDocument[], candidates: Array<SignedDocument | null>, version: (d: SignedDocument) => number, what: string): SignedDocument | null {
  let pending: SignedDocument | null = null
  for (const d of candidates) {
    if (d === null) continue
    const v = version(d)
    const link = chain[v - 1]
    if (link !== undefined) {
      if (sha256Hex(link.bytes) === sha256Hex(d.bytes)) chain[v - 1] = { bytes: link.bytes, signatures: mergeSignatures(link.signatures, d.signatures) }
      continue // superseded by a complete version
    }
    if (v !== chain.length + 1) throw untrusted(EPOLICYROTATION, `a pending ${what} ${v} does not follow version ${chain.length}`)
    if (pending === null) pending = d
    else if (sha256Hex(pending.bytes) === sha256Hex(d.bytes)) pending = { bytes: d.bytes, signatures: mergeSignatures(pending.signatures, d.signatures) }
    else throw new GtfsError('ECONFLICT', `two different pending documents for ${what} ${v}`, { hint: 'finish one first; `gtfs policy update` replaces the pending one on this machine' })
  }
  return pending
}

function latestComplete (a: SignedDocument | null, b: SignedDocument | null): SignedDocument | null {
  if (a === null || b === null) return a ?? b
  const ma = parseManifest(a.bytes)
  const mb = parseManifest(b.bytes)
  if (ma.seq !== mb.seq) return ma.seq > mb.seq ? a : b
  if (manifestHash(a.bytes) !== manifestHash(b.bytes)) throw untrusted(ESEQCONFLICT, `two different complete manifests with seq ${ma.seq}`)
  return { bytes: a.bytes, signatures: mergeSignatures(a.signatures, b.signatures) }
}

function mergePendingManifest (records: RepoRecords, candidates: SignedDocument[], latestSeq: number): SignedDocument | null {
  let pending: SignedDocument | null = null
  for (const d of candidates) {
    const seq = parseManifest(d.bytes).seq
    if (seq <= latestSeq) {
      // Signatures gathered for what is now the complete manifest still count.
      if (records.manifest !== null && manifestHash(records.manifest.bytes) === manifestHash(d.bytes)) {
        records.manifest = { bytes: d.bytes, signatures: mergeSignatures(records.manifest.signatures, d.signatures) }
      }
      continue
    }
    if (pending === null) pending = d
    else if (manifestHash(pending.bytes) === manifestHash(d.bytes)) pending = { bytes: d.bytes, signatures: mergeSignatures(pending.signatures, d.signatures) }
    else throw new GtfsError('ECONFLICT', `two different pending manifests (seq ${parseManifest(pending.bytes).seq} and ${seq})`, { hint: 'publish again to replace the pending manifest on this machine' })
  }
  return pending
}

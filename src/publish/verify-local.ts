/**
 * `gtfs verify`: runs the checks every mount runs (trust/verify-manifest.ts,
 * in DESIGN.md's order) on a repo's newest manifest — the pending one if
 * there is one, else the latest complete one — from this machine's records
 * or from a bundle file, then checks every catalog the manifest names
 * (present, hash, format, and made for the commit's tree), and only then
 * persists the accepted state atomically. Local trust (`gtfs trust set`)
 * applies. Nothing is recorded as accepted that a check refused.
 */
import { LRUCache } from 'lru-cache'
import type { PublicKey } from 'openpgp'
import { GtfsError, IntegrityError } from '../errors.ts'
import { decodeCatalog, type Catalog } from '../git/catalog.ts'
import { packEntries } from '../git/catalog-packed.ts'
import { SizesCatalogEntries, sizesCatalogText } from '../git/catalog-sizes.ts'
import { logger, warn } from '../log.ts'
import { objectsDirOf } from '../store/git-dir.ts'
import { GitObjectStore } from '../store/object-store.ts'
import {
  ECATALOG, loadAcceptedState, loadLocalTrust, parseManifest, readKeyBundle, saveAcceptedState, verifyCatalog, verifyManifest,
  verifyPolicyChain, type Manifest, type SignedDocument
} from '../trust/index.ts'
import { makeIsAncestor } from './ancestry.ts'
import { decodeBundle, type Bundle } from './bundle.ts'
import { checkCatalogOffThread, isRefusal, packSeed } from './catalog-worker.ts'
import { getCatalog, type RepoRecords } from './records.ts'
import type { Session } from './session.ts'
import { commitAndTree } from './tree-catalog.ts'

const log = logger('gtfs:publish:verify-local')

export interface VerifyResult {
  repo: string
  policyVersion: number
  seq: number
  manifestHash: string
  manifest: Manifest
  /** the same manifest as the one accepted before */
  unchanged: boolean
  /** catalogs checked */
  catalogs: number
  localTrust: boolean
  /** primary fingerprints whose valid signatures the manifest carries */
  signers: string[]
  /** the DHT pointer key (hex) of the policy the manifest was verified under */
  pointerKey: string
}

interface Docs {
  repo: string
  policy: SignedDocument[]
  manifest: SignedDocument | null
  history: Map<number, Uint8Array>
  catalog: (hash: string) => Promise<Uint8Array | null>
  gitDir: string | null
  keys: PublicKey[]
  /** a view of this machine's objects to consult first (one that sees what was just fetched) */
  objects?: GitObjectStore
  /** sizes catalogs are checked behind their use (decodedOnce): a mount's */
  catalogsBehind?: boolean
}

export async function verifyRepo (s: Session, records: RepoRecords, now = new Date()): Promise<VerifyResult> {
  return await verifyDocs(s, {
    repo: records.repo,
    policy: records.policy,
    manifest: records.pendingManifest ?? records.manifest,
    history: records.history,
    catalog: async hash => await getCatalog(s.store, records, hash),
    gitDir: records.gitDir,
    keys: []
  }, now)
}

/** Verifies a bundle file's newest manifest without importing the file. */
export async function verifyBundleFile (s: Session, bytes: Uint8Array, now = new Date()): Promise<VerifyResult> {
  return await verifyBundle(s, decodeBundle(bytes), now)
}

/**
 * verifyBundleFile of a decoded bundle. `objects`: where the commits it names
 * are read first (catalog against tree, ancestry), before the session's store:
 * a swarm mount passes its own view, which holds what it just fetched in
 * memory, so that nothing has to be written and synced first. `catalogsBehind`:
 * a mount's, see decodedOnce.
 */
export async function verifyBundle (s: Session, b: Bundle, now = new Date(), objects?: GitObjectStore, catalogsBehind = false): Promise<VerifyResult> {
  return await verifyDocs(s, {
    objects,
    catalogsBehind,
    repo: b.repo,
    policy: b.policy,
    manifest: b.pendingManifest ?? b.manifest,
    history: b.history,
    catalog: async hash => b.catalogs.get(hash) ?? null,
    gitDir: null,
    keys: b.keys.byteLength === 0 ? [] : await readKeyBundle(b.keys)
  }, now)
}

async function verifyDocs (s: Session, d: Docs, now: Date): Promise<VerifyResult> {
  if (d.policy.length === 0) throw new GtfsError('EPENDING', `repo ${d.repo} has no complete policy yet (the genesis is collecting signatures)`)
  if (d.manifest === null) throw new GtfsError('ENOMANIFEST', `repo ${d.repo} has no manifest yet`, { hint: 'gtfs publish <git-dir>' })
  const keys = [...await s.publicKeys(), ...d.keys]
  const accepted = await loadAcceptedState(s.home.state, d.repo)
  const policy = await verifyPolicyChain({ repo: d.repo, links: d.policy, keys, now, accepted })
  const localTrust = await loadLocalTrust(s.home.trust, d.repo)
  const seq = parseManifest(d.manifest.bytes).seq
  const intermediates: Uint8Array[] = []
  if (accepted !== null) {
    for (let i = accepted.seq + 1; i < seq; i++) {
      const m = d.history.get(i)
      if (m === undefined) break // verifyManifest says EPREV with the count
      intermediates.push(m)
    }
  }
  const stores = d.objects !== undefined ? [d.objects, s.store.objects] : [s.store.objects]
  let source: GitObjectStore | null = null
  if (d.gitDir !== null) {
    source = await GitObjectStore.open(await objectsDirOf(d.gitDir)).catch(() => null)
    if (source !== null) stores.push(source)
  }
  try {
    const verified = await verifyManifest(
      { bytes: d.manifest.bytes, signatures: d.manifest.signatures, policy, keys, accepted, now, intermediates },
      { isAncestor: makeIsAncestor(stores), localTrust }
    )
    let catalogs = 0
    for (const [ref, e] of Object.entries(verified.manifest.refs)) {
      if (e.catalog === null) continue
      const bytes = await d.catalog(e.catalog)
      if (bytes === null) throw new IntegrityError(`catalog ${e.catalog} of ${ref} is not on this machine`, { code: ECATALOG, hint: 'import the bundle that carries it: gtfs manifest import <file>' })
      verifyCatalog(bytes, e.catalog)
      const catalog = await decodedOnce(e.catalog, bytes, d.catalogsBehind === true)
      const tree = await treeOf(stores, e.commit)
      if (tree !== null && tree !== catalog.tree) throw new IntegrityError(`catalog of ${ref} describes tree ${catalog.tree}, but commit ${e.commit} has tree ${tree}`, { code: ECATALOG })
      catalogs++
    }
    if (!verified.unchanged) await saveAcceptedState(s.home.state, verified.state)
    return {
      repo: d.repo, policyVersion: policy.version, seq: verified.manifest.seq, manifestHash: verified.hash, manifest: verified.manifest,
      unchanged: verified.unchanged, catalogs, localTrust: localTrust !== null, signers: verified.signers,
      pointerKey: policy.policy.pointerKey
    }
  } finally {
    await source?.close()
  }
}

/**
 * Catalogs decoded in this process, by SHA-256 (checked by the caller): a
 * following mount verifies its manifest again every 30 s, and decoding a
 * 50,000-path catalog costs ~0.25 s of CPU each time. Decoded catalogs are
 * never modified by their users.
 */
const decoded = new LRUCache<string, Catalog>({ max: 4 })
/** the full check behind a catalog used before it ended (openCatalog), by catalog */
const checks = new WeakMap<Catalog, Promise<void>>()

/**
 * The catalog of SHA-256 `hash` as this process decoded it (a mount uses the
 * one of its ref: decoding 50,000 entries again cost 0.2 s), or undefined.
 * A sizes catalog may still be under its full check (openCatalog).
 */
export function verifiedCatalog (hash: string): Catalog | undefined {
  return decoded.get(hash)
}

/**
 * The catalog of `bytes` (SHA-256 `hash`, checked by the caller). `behind`:
 * a sizes catalog is used at once, read in place (git/catalog-sizes.ts),
 * while decodeCatalog checks it on the catalog worker; a refusal then fails
 * its every lookup. Otherwise (and for any other catalog) decoded and
 * checked before it is returned.
 */
async function decodedOnce (hash: string, bytes: Uint8Array, behind: boolean): Promise<Catalog> {
  let c = decoded.get(hash)
  if (c === undefined) decoded.set(hash, c = (behind ? openCatalog(bytes) : null) ?? decodeCatalog(bytes))
  if (!behind) await checks.get(c)
  return c
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true })

/**
 * ms a catalog in use waits for its check to start: the worker's start (a
 * thread bootstrapping Node, before it lowers its priority) and the check
 * took CPU from a mount's first requests when it started at once.
 */
const CHECK_AFTER_MS = 1000

/** A sizes catalog under its check behind it, or null for one decodeCatalog must take. */
function openCatalog (bytes: Uint8Array): Catalog | null {
  let text: string
  try {
    text = utf8Strict.decode(bytes)
  } catch {
    return null // decodeCatalog says what is wrong
  }
  const shape = sizesCatalogText(text)
  if (shape === null) return null
  const entries = new SizesCatalogEntries(text, shape.from, shape.to)
  const catalog: Catalog = { tree: shape.tree, rootfs: false, entries }
  const check = new Promise(resolve => setTimeout(resolve, CHECK_AFTER_MS).unref()).then(async () => await checkCatalogOffThread(bytes)).catch(async (err: Error) => {
    if (isRefusal(err)) throw err
    log('checking a catalog off the main thread: %s; checking it here', err.message)
    await new Promise(resolve => setImmediate(resolve))
    return packEntries(text, decodeCatalog(bytes).entries, packSeed)
  }).then(tables => {
    entries.checked(tables)
    log('a catalog of %d entries in use passed its check', tables.keyStart.length)
  }, (err: Error) => {
    warn(`a catalog in use failed its check: ${err.message}`)
    entries.refused(err)
    throw err
  })
  check.catch(() => {})
  checks.set(catalog, check)
  return catalog
}

async function treeOf (stores: GitObjectStore[], commit: string): Promise<string | null> {
  for (const store of stores) {
    if (await store.has(commit)) return (await commitAndTree(store, commit)).tree
  }
  return null
}

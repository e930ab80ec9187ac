/**
 * Per-repo records: which blobs of the document store (gtfs-store.ts) are a
 * repo's policy chain, its latest complete manifest, the documents still
 * collecting signatures (pending), the manifests published before (for seq
 * jumps) and its catalogs. One canonical JSON file per repo,
 * `<data>/repos/<repo key>/records.json`, replaced atomically:
 *
 *   { format: 1, repo, gitDir,                    gitDir: source repository of `gtfs publish`, or null
 *     policy: [{ bytes: <blob id>, signatures: [<blob id>] }],   complete links, genesis first
 *     pendingPolicy: link | null,                  next version still short of signatures
 *     manifest: link | null,                       latest complete manifest
 *     pendingManifest: link | null,                next manifest still short of signatures
 *     history: { "<seq>": <blob id> },             every complete manifest's bytes
 *     catalogs: { "<sha256>": <blob id> } }
 *
 * Records say where things are, not whether to trust them: every reader
 * verifies the documents (policy chain, thresholds, hashes) itself.
 */
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import {
  canonicalBytes, corrupt, malformed, MAX_CATALOG_BYTES, MAX_MANIFEST_BYTES, MAX_POLICY_BYTES, MAX_SIGNATURE_BYTES,
  MAX_STATE_BYTES, parseCanonical, readFileCapped, sha256Hex, writeFileAtomic, type JsonValue, type SignedDocument
} from '../trust/index.ts'
import { hashObject, isObjectId } from '../git/object-id.ts'
import type { ObjectId } from '../types.ts'
import type { DocumentStore } from './gtfs-store.ts'
import type { Home } from './home.ts'

export interface RepoRecords {
  repo: string
  gitDir: string | null
  policy: SignedDocument[]
  pendingPolicy: SignedDocument | null
  manifest: SignedDocument | null
  pendingManifest: SignedDocument | null
  /** complete manifests' bytes by seq */
  history: Map<number, Uint8Array>
  /** catalog sha256 → blob id; bytes are read on demand (catalogs can be large) */
  catalogs: Map<string, ObjectId>
}

const FORMAT = 1
const REPO_KEY = /^[0-9a-f]{64}$/

export function emptyRecords (repo: string, gitDir: string | null = null): RepoRecords {
  return { repo, gitDir, policy: [], pendingPolicy: null, manifest: null, pendingManifest: null, history: new Map(), catalogs: new Map() }
}

export function repoDir (home: Home, repo: string): string {
  if (!REPO_KEY.test(repo)) throw malformed('repo key', `"${repo}" is not 64 lowercase hex digits`)
  return join(home.repos, repo)
}

function recordsFile (home: Home, repo: string): string {
  return join(repoDir(home, repo), 'records.json')
}

/** Repo keys with records on this machine. */
export async function listRepos (home: Home): Promise<string[]> {
  const names = await readdir(home.repos).catch(() => [] as string[])
  return names.filter(n => REPO_KEY.test(n)).sort()
}

interface RawLink { bytes: ObjectId, signatures: ObjectId[] }
interface RawRecords {
  repo: string
  gitDir: string | null
  policy: RawLink[]
  pendingPolicy: RawLink | null
  manifest: RawLink | null
  pendingManifest: RawLink | null
  history: Record<string, ObjectId>
  catalogs: Record<string, ObjectId>
}

async function readRaw (home: Home, repo: string): Promise<RawRecords | null> {
  const bytes = await recordsBytes(home, repo)
  if (bytes === null) return null
  const file = recordsFile(home, repo)
  try {
    return checkRaw(parseCanonical(bytes, MAX_STATE_BYTES, 'records'), repo)
  } catch (err) {
    throw corrupt(file, (err as Error).message, err)
  }
}

function checkRaw (v: JsonValue, repo: string): RawRecords {
  const o = v as Record<string, unknown>
  const bad = (why: string): Error => malformed('records', why)
  if (o === null || typeof o !== 'object' || o.format !== FORMAT || o.repo !== repo) throw bad(`not format ${FORMAT} records of ${repo}`)
  const oid = (x: unknown): ObjectId => { if (!isObjectId(x)) throw bad('holds a bad blob id'); return x }
  const link = (x: unknown): RawLink | null => {
    if (x === null) return null
    const l = x as RawLink
    if (typeof l !== 'object' || !Array.isArray(l.signatures)) throw bad('holds a bad link')
    return { bytes: oid(l.bytes), signatures: l.signatures.map(oid) }
  }
  if (!Array.isArray(o.policy)) throw bad('policy must be a list')
  const map = (x: unknown, key: RegExp): Record<string, ObjectId> => {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) throw bad('holds a bad map')
    for (const [k, id] of Object.entries(x)) { if (!key.test(k)) throw bad(`bad key ${k}`); oid(id) }
    return x as Record<string, ObjectId>
  }
  if (o.gitDir !== null && typeof o.gitDir !== 'string') throw bad('gitDir must be a string or null')
  return {
    repo,
    gitDir: o.gitDir as string | null,
    policy: o.policy.map(l => link(l)!).filter(l => l !== null),
    pendingPolicy: link(o.pendingPolicy),
    manifest: link(o.manifest),
    pendingManifest: link(o.pendingManifest),
    history: map(o.history, /^[1-9][0-9]{0,15}$/),
    catalogs: map(o.catalogs, REPO_KEY)
  }
}

/**
 * The bytes of `repo`'s records file, or null when there is none. The file
 * names every document by its blob id, so the same bytes are the same records.
 */
export async function recordsBytes (home: Home, repo: string): Promise<Buffer | null> {
  const file = recordsFile(home, repo)
  return await readFileCapped(file, MAX_STATE_BYTES, file)
}

/** The records of `repo`, documents read from the store (caps checked first); null when none. */
export async function loadRecords (home: Home, store: DocumentStore, repo: string): Promise<RepoRecords | null> {
  const raw = await readRaw(home, repo)
  if (raw === null) return null
  const doc = async (l: RawLink | null, cap: number, what: string): Promise<SignedDocument | null> => l === null
    ? null
    : {
        bytes: await store.get(l.bytes, cap, what),
        signatures: await Promise.all(l.signatures.map(async s => await store.get(s, MAX_SIGNATURE_BYTES, `signature of ${what}`)))
      }
  const policy: SignedDocument[] = []
  for (const [i, l] of raw.policy.entries()) policy.push((await doc(l, MAX_POLICY_BYTES, `policy version ${i + 1}`))!)
  const history = new Map<number, Uint8Array>()
  for (const [seq, id] of Object.entries(raw.history)) history.set(Number(seq), await store.get(id, MAX_MANIFEST_BYTES, `manifest seq ${seq}`))
  return {
    repo,
    gitDir: raw.gitDir,
    policy,
    pendingPolicy: await doc(raw.pendingPolicy, MAX_POLICY_BYTES, 'pending policy'),
    manifest: await doc(raw.manifest, MAX_MANIFEST_BYTES, 'manifest'),
    pendingManifest: await doc(raw.pendingManifest, MAX_MANIFEST_BYTES, 'pending manifest'),
    history,
    catalogs: new Map(Object.entries(raw.catalogs))
  }
}

/** Writes every document as a blob, then the records file (atomically, last). */
export async function saveRecords (home: Home, store: DocumentStore, r: RepoRecords): Promise<void> {
  const link = async (d: SignedDocument | null): Promise<RawLink | null> => d === null
    ? null
    : { bytes: await store.put(d.bytes), signatures: await Promise.all(d.signatures.map(async s => await store.put(s))) }
  const history: Record<string, ObjectId> = {}
  for (const [seq, bytes] of [...r.history].sort((a, b) => a[0] - b[0])) history[String(seq)] = await store.put(bytes)
  const raw = {
    format: FORMAT,
    repo: r.repo,
    gitDir: r.gitDir,
    policy: await Promise.all(r.policy.map(async d => (await link(d))!)),
    pendingPolicy: await link(r.pendingPolicy),
    manifest: await link(r.manifest),
    pendingManifest: await link(r.pendingManifest),
    history,
    catalogs: Object.fromEntries(r.catalogs)
  }
  await writeFileAtomic(recordsFile(home, r.repo), canonicalBytes(raw, 'records'), { mode: 0o644 })
  await keepReachable(store, r.repo, raw)
}

/**
 * Points `refs/gtfs/<repo>` at a tree holding every blob the records name, so
 * `git fsck` and `git gc` in the store see them as reachable.
 */
async function keepReachable (store: DocumentStore, repo: string, raw: Omit<RawRecords, 'repo' | 'gitDir'>): Promise<void> {
  const names = new Map<string, ObjectId>()
  const link = (l: RawLink | null, name: string): void => {
    if (l === null) return
    names.set(name, l.bytes)
    l.signatures.forEach((s, i) => names.set(`${name}.sig${i}`, s))
  }
  raw.policy.forEach((l, i) => { link(l, `policy-${i + 1}`) })
  link(raw.pendingPolicy, 'policy-pending')
  link(raw.manifest, 'manifest')
  link(raw.pendingManifest, 'manifest-pending')
  for (const [seq, id] of Object.entries(raw.history)) names.set(`manifest-seq${seq}`, id)
  for (const [hash, id] of Object.entries(raw.catalogs)) names.set(`catalog-${hash}`, id)
  // git tree order for blobs: byte order of names
  const entries = [...names].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  const tree = Buffer.concat(entries.map(([name, id]) => Buffer.concat([Buffer.from(`100644 ${name}\0`), Buffer.from(id, 'hex')])))
  const treeId = await store.objects.write('tree', tree, hashObject('tree', tree))
  await writeFileAtomic(join(store.gitDir, 'refs', 'gtfs', repo), `${treeId}\n`, { mode: 0o644, dirMode: 0o755 })
}

/** Stores catalog bytes; returns their sha256 (what the manifest names). */
export async function putCatalog (store: DocumentStore, r: RepoRecords, bytes: Uint8Array): Promise<string> {
  const hash = sha256Hex(bytes)
  r.catalogs.set(hash, await store.put(bytes))
  return hash
}

/** Catalog bytes by hash (the caller checks them with verifyCatalog); null when not here. */
export async function getCatalog (store: DocumentStore, r: RepoRecords, hash: string): Promise<Uint8Array | null> {
  const id = r.catalogs.get(hash)
  return id === undefined ? null : await store.get(id, MAX_CATALOG_BYTES, `catalog ${hash}`)
}

/** The repo whose records name `gitDir` as their source; null when none. */
export async function findRepoByGitDir (home: Home, gitDir: string): Promise<string[]> {
  const found: string[] = []
  for (const repo of await listRepos(home)) {
    const raw = await readRaw(home, repo).catch(() => null)
    if (raw?.gitDir === gitDir) found.push(repo)
  }
  return found
}

/** Unique signatures: the same bytes count once. */
export function mergeSignatures (...lists: Uint8Array[][]): Uint8Array[] {
  const seen = new Map<string, Uint8Array>()
  for (const s of lists.flat()) seen.set(Buffer.from(s).toString('base64'), s)
  return [...seen.values()]
}

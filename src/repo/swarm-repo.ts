/**
 * From a repo key to a verified snapshot: the newest signed state a peer
 * serves, checked by trust/ exactly as `gtfs verify` checks it (policy chain
 * from the genesis that hashes to the key, thresholds, seq, prev, expiry,
 * fast-forward, catalogs), its acceptance saved, and recorded on this
 * machine behind the mount; or, with no peer, the last state this machine
 * accepted. Nothing a peer says is believed before that.
 */
import { setTimeout as delay } from 'node:timers/promises'
import { GtfsError, isGtfsError, NotFoundError } from '../errors.ts'
import { decodeCatalog, type Catalog } from '../git/catalog.ts'
import { parseCommit } from '../git/commit.ts'
import { subtreeIds } from '../git/tree.ts'
import { logger, warn } from '../log.ts'
import type { Bundle } from '../publish/bundle.ts'
import { importDecodedBundle } from '../publish/exchange.ts'
import { getCatalog } from '../publish/records.ts'
import type { Session } from '../publish/session.ts'
import { verifiedCatalog, verifyBundle, verifyRepo } from '../publish/verify-local.ts'
import { loadAcceptedState, parseManifest, parsePolicy, type Manifest } from '../trust/index.ts'
import { preloadOpenpgp } from '../trust/openpgp.ts'
import type { AbortOptions, ObjectId } from '../types.ts'
import type { SwarmSource } from './swarm-source.ts'

const log = logger('gtfs:repo:swarm-repo')

/** ms the DHT pointer is looked for while mounting */
const POINTER_LOOK_MS = 1500
/**
 * ms a mount waits for that look before it goes on (the rest reaches
 * `onLateNote`). None: the look starts when the peers' state arrives and runs
 * beside its verification (a few hundred ms for a 50,000-path catalog), so a
 * mount takes what it said by then. Waiting 100 ms more held each first mount
 * of the bench by those 100 ms, as DHT nodes of readers gone make every get
 * last until they time out.
 */
const POINTER_WAIT_MS = 0

/** What a pointer says about the manifest served by peers, when it disagrees. */
function pointerNote (pointer: { seq: number } | null, seq: number): string | null {
  if (pointer !== null && pointer.seq > seq) return `the DHT announces manifest seq ${pointer.seq}, newer than seq ${seq} that peers served`
  // A replayed pointer, or nodes that missed the newer one: a hint only, never a rollback.
  if (pointer !== null && pointer.seq < seq) return `the DHT pointer names manifest seq ${pointer.seq}, older than seq ${seq}; ignored (a replay or stale DHT nodes)`
  return null
}

/** The pointer key of the newest policy a bundle claims (not verified yet), or null when it names none readable. */
function claimedPointerKey (b: Bundle): string | null {
  const last = b.policy[b.policy.length - 1]
  if (last === undefined) return null
  try {
    return parsePolicy(last.bytes).pointerKey
  } catch {
    return null
  }
}

/** tree levels one closure request asks for (the wire's cap, swarm/messages.ts MAX_DEPTH) */
const MAX_WIRE_DEPTH = 64

/** directory levels fetchStructure walks at most */
const MAX_TREE_DEPTH = 256

/** commits fetched at most to answer one fast-forward question */
const MAX_ANCESTRY = 10_000

/** What the repo layer asks of the swarm about signed state. */
export interface StateProvider {
  /**
   * the state bundle that peers of `repo` serve (the newest seq among those
   * asked), decoded, or null when none answered. `onAsked` is called once,
   * when the first requests are on their way.
   */
  fetchState (repo: string, opts?: AbortOptions & { onAsked?: () => void }): Promise<Bundle | null>
  /** the DHT pointer under `pointerKey`, a freshness hint; null when none was found */
  pointer (pointerKey: string, opts?: AbortOptions): Promise<{ manifestHash: string, seq: number } | null>
}

export interface ResolvedRepo {
  repo: string
  manifest: Manifest
  manifestHash: string
  ref: string
  commit: ObjectId
  catalog?: Catalog
  /** primary fingerprints whose valid signatures the manifest carries (empty for an expired manifest allowed offline) */
  signers: string[]
  /** no peer answered: the last state accepted on this machine */
  offline: boolean
  /** reasons worth showing (a newer pointer nobody serves, an expired manifest allowed) */
  notes: string[]
  /** the current policy's DHT pointer key (hex), under which the publisher announces new manifests */
  pointerKey: string
  /** when (performance.now()) the peers' state was here (null: offline) and when it was verified */
  marks: { state: number | null, verified: number }
  /**
   * Settles once what peers served is recorded on this machine (at once
   * offline); never rejects. What is shown is verified and its acceptance
   * saved before resolveSwarmRepo returns; only the records (documents for
   * serving and for offline mounts) are written after.
   */
  recorded: Promise<void>
}

export interface ResolveOptions extends AbortOptions {
  repo: string
  ref?: string
  session: Session
  source: SwarmSource
  state: StateProvider
  allowExpired?: boolean
  now?: Date
  /** a note that arrives after the repo was resolved (the DHT pointer's look outlasted POINTER_WAIT_MS) */
  onLateNote?: (note: string) => void
  /**
   * the commit the peers' (not yet verified) manifest names for the ref: its
   * structure may be fetched meanwhile; `firstSeen`: this machine had accepted
   * no state of the repo (none of its trees are here)
   */
  onClaimedCommit?: (commit: ObjectId, firstSeen: boolean) => void
  /** recording waits for this (a mount being shown: recording's CPU would delay it); must settle */
  recordAfter?: Promise<unknown>
}

/**
 * Records being written, by repo. Recording a peer's bundle (documents into
 * the store, the records file: 150-200 ms for a 50,000-path catalog) came
 * after verification and before the mount appeared; it now runs behind it.
 * One at a time per repo, and every resolve of the repo waits for the last.
 */
const recording = new Map<string, Promise<void>>()

function record (repo: string, after: Promise<unknown> | undefined, write: () => Promise<unknown>): Promise<void> {
  const p = (recording.get(repo) ?? Promise.resolve()).then(async () => { await after?.catch(() => {}) }).then(write).then(() => {}, (err: Error) => {
    warn(`${repo.slice(0, 12)}: what peers served was verified and shown, but recording it on this machine failed: ${err.message}`)
  })
  recording.set(repo, p)
  void p.then(() => { if (recording.get(repo) === p) recording.delete(repo) })
  return p
}

/** Settles when every recording started so far has (before the daemon stops). */
export async function recordingsSettled (): Promise<void> {
  await Promise.all([...recording.values()])
}

/** Fetches the commits between `from` and `to` (exclusive), so that ancestry can be judged locally. */
async function fetchAncestry (source: SwarmSource, from: ObjectId, to: ObjectId, opts: AbortOptions): Promise<void> {
  const seen = new Set<ObjectId>([from])
  let frontier = [from]
  while (frontier.length > 0 && seen.size < MAX_ANCESTRY) {
    await source.ensure(frontier, { ...opts, nonBlobs: true })
    const next: ObjectId[] = []
    for (const id of frontier) {
      for (const p of parseCommit((await source.read(id, opts)).data, id).parents) {
        if (p === to) return
        if (!seen.has(p)) { seen.add(p); next.push(p) }
      }
    }
    frontier = next
  }
}

export function pickRef (manifest: Manifest, wanted: string | undefined): string {
  const name = wanted ?? manifest.defaultRef
  for (const candidate of [name, `refs/heads/${name}`, `refs/tags/${name}`]) {
    if (Object.hasOwn(manifest.refs, candidate)) return candidate
  }
  throw new NotFoundError(`ref ${name} is not published in this repo`, { code: 'ENOREF', hint: `published refs: ${Object.keys(manifest.refs).join(', ')}` })
}

export async function resolveSwarmRepo (o: ResolveOptions): Promise<ResolvedRepo> {
  const now = o.now ?? new Date()
  const s = o.session
  const notes: string[] = []
  await recording.get(o.repo)
  const accepted = await loadAcceptedState(s.home.state, o.repo)
  // The verification needs openpgp: a first mount loads it while the state
  // travels. Not before the request is out: loaded at once, its ~40 ms of
  // evaluation held up the DHT lookup's answers and the dial.
  const fetching = o.state.fetchState(o.repo, { signal: o.signal, onAsked: () => { setImmediate(preloadOpenpgp) } })
  let bundle = await fetching
  const stateMark = bundle === null ? null : performance.now()
  let manifest: Manifest
  let manifestHash: string
  let signers: string[] = []
  let offline = false
  let pointerKey: string
  let recorded = Promise.resolve()
  let catalogBytes: (hash: string) => Promise<Uint8Array | null>
  // Learn which commits the claimed manifest names, so that catalogs can be checked
  // against their trees and moves judged as fast-forwards; the claim itself is judged below.
  const claimed = bundle
  if (claimed !== null && claimed.manifest === null) throw new GtfsError('ENOMANIFEST', `the peers of ${o.repo} serve no manifest`)
  const claimedManifest = claimed?.manifest == null ? null : parseManifest(claimed.manifest.bytes)
  const claimedSeq = claimedManifest?.seq ?? null
  if (accepted !== null && claimedSeq !== null && claimedSeq < accepted.seq) {
    // Peers that lag behind are no reason to fail: this machine has a newer verified state.
    notes.push(`peers serve manifest seq ${claimedSeq}, older than seq ${accepted.seq} accepted here; using this machine's`)
    bundle = null
  }
  // The DHT pointer is looked for now, under the key the claimed policy names, so
  // that the look runs beside the verification instead of after it; a verified
  // policy that names another key looks again below.
  const lookFor = (key: string): Promise<{ manifestHash: string, seq: number } | null> =>
    o.state.pointer(key, { signal: AbortSignal.any([...(o.signal !== undefined ? [o.signal] : []), AbortSignal.timeout(POINTER_LOOK_MS)]) })
  let claimedPointer: { key: string, look: ReturnType<typeof lookFor> } | null = null
  if (bundle !== null && claimedManifest !== null) {
    const claimedKey = claimedPointerKey(bundle)
    if (claimedKey !== null) {
      claimedPointer = { key: claimedKey, look: lookFor(claimedKey) }
      claimedPointer.look.catch(() => {})
    }
    const refs = claimedManifest.refs
    await o.source.ensure(Object.values(refs).map(e => e.commit), { signal: o.signal, nonBlobs: true })
    // The claimed commit's trees can travel while the claim is judged (verifying
    // a 50,000-path catalog takes a few hundred ms of CPU). Only hash-checked
    // objects are stored, and nothing is shown before the verdict.
    if (o.onClaimedCommit !== undefined) {
      let claimedRef: string | null = null
      try { claimedRef = pickRef(claimedManifest, o.ref) } catch {}
      if (claimedRef !== null) o.onClaimedCommit(refs[claimedRef].commit, accepted === null)
    }
    for (const [ref, e] of Object.entries(refs)) {
      const old = accepted?.refs[ref]
      if (old !== undefined && old !== e.commit) await fetchAncestry(o.source, e.commit, old, o)
    }
    // Ancestry and each catalog's tree are judged through the swarm's own view
    // of the store, which holds what was just fetched in memory: writing it out
    // and syncing it first (for the session's view) took 5-230 ms of a first
    // mount's critical path, the most when the trees were streaming in.
    const verified = await verifyBundle(s, bundle, now, o.source.objects, true)
    const served = bundle
    recorded = record(o.repo, o.recordAfter, async () => await importDecodedBundle(s, served, now))
    manifest = verified.manifest
    manifestHash = verified.manifestHash
    signers = verified.signers
    pointerKey = verified.pointerKey
    // hash-checked by the verification
    catalogBytes = async hash => served.catalogs.get(hash) ?? null
  } else {
    offline = true
    const records = await s.records(o.repo).catch((err: unknown) => {
      if (isGtfsError(err, 'ENOREPO')) {
        throw new GtfsError('ENOPEERS', `no peer serves repo ${o.repo}, and this machine has never accepted it`,
          { hint: 'check the bootstrap list (--bootstrap / GTFS_BOOTSTRAP) and that a seeder runs (gtfs seed)' })
      }
      throw err
    })
    try {
      const verified = await verifyRepo(s, records, now)
      manifest = verified.manifest
      manifestHash = verified.manifestHash
      signers = verified.signers
    } catch (err) {
      if (!isGtfsError(err, 'EEXPIRED') || o.allowExpired !== true || accepted === null || records.manifest === null) {
        if (isGtfsError(err, 'EEXPIRED')) {
          throw new GtfsError('EEXPIRED', `${(err as Error).message}; no peer serves a newer one`, { hint: 'mount it anyway with --allow-expired, or find a peer that has a fresh manifest' })
        }
        throw err
      }
      manifest = parseManifest(records.manifest.bytes)
      manifestHash = accepted.manifestHash
      notes.push(`manifest seq ${manifest.seq} expired at ${new Date(manifest.expires * 1000).toISOString()}; mounted because of --allow-expired`)
    }
    log('offline: using the accepted manifest seq %d of %s', manifest.seq, o.repo)
    pointerKey = parsePolicy(records.policy[records.policy.length - 1].bytes).pointerKey
    catalogBytes = async hash => await getCatalog(s.store, records, hash)
  }

  const verifiedMark = performance.now()
  // The pointer is only a freshness hint: it gets a short look, never the mount's whole
  // deadline, and the mount does not wait for it (POINTER_WAIT_MS). A DHT get lasts
  // until its slowest node answers or times out; waiting held every mount up by up to
  // POINTER_LOOK_MS.
  const seq = manifest.seq
  const judged = (claimedPointer?.key === pointerKey ? claimedPointer.look : lookFor(pointerKey))
    .then(pointer => pointerNote(pointer, seq), () => null)
  const early = await Promise.race([judged, delay(POINTER_WAIT_MS).then(() => undefined)])
  if (early === undefined) {
    void judged.then(note => { if (note !== null) o.onLateNote?.(note) })
  } else if (early !== null) {
    notes.push(early)
  }

  const ref = pickRef(manifest, o.ref)
  const entry = manifest.refs[ref]
  let catalog: Catalog | undefined
  if (entry.catalog !== null) {
    // decoded by the verification just above, unless evicted since
    catalog = verifiedCatalog(entry.catalog)
    if (catalog === undefined) {
      const bytes = await catalogBytes(entry.catalog)
      if (bytes === null) throw new GtfsError('ECATALOG', `catalog ${entry.catalog} of ${ref} is not on this machine`)
      catalog = decodeCatalog(bytes)
    }
  }
  return { repo: o.repo, manifest, manifestHash, ref, commit: entry.commit, catalog, signers, offline, notes, pointerKey, recorded, marks: { state: stateMark, verified: verifiedMark } }
}

/**
 * The commit and its whole directory structure, so that metadata never waits
 * on the network. Walked here level by level, asking only for the trees this
 * machine lacks (a closure request would have the peer send every subtree
 * again, also those we hold from an earlier commit); each level's trees go
 * out in batches over every peer at once. Trees held locally are read, not
 * trusted to be complete: their subtrees are checked too. With `whole` (a
 * repo's first mount here) one closure request comes first. A walk of the
 * same commit by the same source under way is joined.
 */
export async function fetchStructure (source: SwarmSource, commit: ObjectId, opts: StructureOptions = {}): Promise<void> {
  let bySource = walks.get(source)
  if (bySource === undefined) walks.set(source, bySource = new Map())
  const under = bySource.get(commit)
  if (under !== undefined) {
    try {
      await untilAborted(under, opts.signal)
      return
    } catch (err) {
      opts.signal?.throwIfAborted()
      log('joined structure walk of %s: %s; walking again', commit, (err as Error).message)
    }
  }
  const walk = walkStructure(source, commit, opts)
  bySource.set(commit, walk)
  try {
    await walk
  } finally {
    if (bySource.get(commit) === walk) bySource.delete(commit)
  }
}

/** `p`, or the abort of `signal` if that comes first. */
async function untilAborted<T> (p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return await p
  signal.throwIfAborted()
  let onAbort!: () => void
  const aborted = new Promise<never>((_resolve, reject) => { onAbort = () => { reject(signal.reason) } })
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await Promise.race([p, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

export interface StructureOptions extends AbortOptions {
  /**
   * None of the repo's trees are on this machine (its first mount here): the
   * whole structure is asked for in one request instead of level by level.
   */
  whole?: boolean
}

/**
 * Structure walks under way, by source and commit: a mount starts one when the
 * peers' claim arrives and waits for the same walk once the claim is verified.
 */
const walks = new WeakMap<SwarmSource, Map<ObjectId, Promise<void>>>()

async function walkStructure (source: SwarmSource, commit: ObjectId, opts: StructureOptions): Promise<void> {
  await source.ensure([commit], { ...opts, nonBlobs: true })
  const root = parseCommit((await source.read(commit, opts)).data, commit).tree
  if (opts.whole === true && !(await source.has(root))) {
    // Nothing of this tree can be sent twice, so it is asked for at once, a
    // trees-only closure that streams while the mount verifies. Walked level by
    // level, each level waited for the one before, and for the main thread
    // between them (verifying a 50,000-path catalog holds it 100-200 ms).
    const whole = await source.fetchClosure([root], { ...opts, depth: MAX_WIRE_DEPTH, treesOnly: true, nonBlobs: true }).catch((err: Error) => {
      log('structure of %s in one request: %s; level by level', commit, err.message)
      return false
    })
    // Whole: every tree is here, as checked while it arrived; the walk below
    // would only read them again (2,500 trees: ~30 ms of a first mount's
    // critical path, at the end of it). Else the walk finds what the peer
    // left out, and fetches it.
    if (whole) return
  }
  let level = [root]
  const seen = new Set<ObjectId>(level)
  for (let depth = 0; level.length > 0 && depth <= MAX_TREE_DEPTH; depth++) {
    // What just arrived is in memory: read there without an await per tree
    // (the walk after a whole structure arrived took 23-28 ms of a first
    // mount's critical path for the bench's 2,500 trees).
    const held = level.map(id => source.readNow(id))
    const absent = level.filter((_id, i) => held[i] === undefined)
    if (absent.length > 0) await source.ensure(absent, { ...opts, nonBlobs: true })
    const next: ObjectId[] = []
    for (let i = 0; i < level.length; i++) {
      const id = level[i]
      for (const sub of subtreeIds((held[i] ?? await source.read(id, opts)).data, id)) {
        if (!seen.has(sub)) { seen.add(sub); next.push(sub) }
      }
    }
    level = next
  }
}

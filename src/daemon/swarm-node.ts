/**
 * The daemon's place in the swarm: one DHT node, one wire listener, and per
 * repo a pool of peers and a fetcher. It serves every repo it seeds or has
 * mounted (objects from gtfs's store and the publisher's own repositories,
 * signed state from this machine's records), announces them, keeps the DHT
 * pointer of each repo it publishes, and answers the repo layer's questions
 * (StateProvider, ObjectFetcher).
 */
import { createPrivateKey } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { LRUCache } from 'lru-cache'
import type { Paths, Settings } from '../config.ts'
import { GtfsError, isGtfsError } from '../errors.ts'
import { parseCommit } from '../git/commit.ts'
import { subtreeIds } from '../git/tree.ts'
import { logger, warn } from '../log.ts'
import { decodeBundle, type Bundle } from '../publish/bundle.ts'
import { exportBundle, exportToken, KEYRING_SETTLE_MS } from '../publish/exchange.ts'
import { listRepos, repoDir } from '../publish/records.ts'
import type { Session } from '../publish/session.ts'
import type { StateProvider } from '../repo/swarm-repo.ts'
import type { ObjectFetcher } from '../repo/swarm-source.ts'
import { UnionSource } from '../repo/seed-source.ts'
import { objectsDirOf } from '../store/git-dir.ts'
import { GitObjectStore } from '../store/object-store.ts'
import { SwarmDht } from '../swarm/dht.ts'
import { dhtStateFiles } from '../swarm/dht-state.ts'
import { keypairFromSeed, type Ed25519Keypair } from '../swarm/ed25519.ts'
import { Fetcher } from '../swarm/fetcher.ts'
import { swarmInfohash } from '../swarm/infohash.ts'
import type { Peer } from '../swarm/peer.ts'
import { PeerPool } from '../swarm/peer-pool.ts'
import type { SwarmContext } from '../swarm/peer.ts'
import { TokenBucket } from '../swarm/rate-limit.ts'
import { Transport } from '../swarm/transport.ts'
import { manifestHash, parseManifest } from '../trust/index.ts'
import type { AbortOptions, ObjectId } from '../types.ts'

const log = logger('gtfs:daemon:swarm-node')

/** bytes of state bundles kept for serving (the wide repo's is 3.4 MB; a distro root's catalog makes one of tens of MB) */
const STATE_CACHE_BYTES = 64 * 2 ** 20

export interface SwarmNodeOptions {
  paths: Paths
  settings: Settings
  session: Session
  /** gtfs's store, opened with unpacked large blobs: what views read and peers get */
  store: GitObjectStore
  bootstrap?: string
  port?: number
  host?: string
}

interface RepoSwarm {
  repo: string
  infoHash: Buffer
  pool: PeerPool
  fetcher: Fetcher
  context: SwarmContext
  seeding: boolean
  lastLookup: number
  looking: Promise<void> | null
  /** settles when the last lookup ended and its dials settled */
  lookupDone: Promise<void>
  /** state bundles asked of the peers (each asks every ready peer) */
  stateFetches: number
  /** state bundles this node made to serve (stateOf; one per change of what they hold) */
  stateExports: number
  /** trees read once after seeding began (readTreesAhead) */
  treesReadAhead: number
}

/**
 * A lookup dials what the DHT names, at most MAX_DIALING at once, until
 * MAX_READY peers are ready or MAX_DIALS were tried. A DHT node keeps every
 * announcement it was given (bittorrent-dht's default keeps them for good;
 * mainline nodes for about 30 minutes) and names them all, in random order:
 * readers that left, seeders restarted on another port. Dialling the first
 * 32 named and stopping there, a bench reader found none of 40 alive and its
 * mount failed (ENOPEERS) while the publisher was seeding.
 */
const MAX_DIALING = 32
const MAX_READY = 32
const MAX_DIALS = 1024
/** a new DHT lookup for a repo at most this often, ms */
const LOOKUP_EVERY_MS = 5_000
/**
 * Bytes of trees a seeder reads ahead (readTreesAhead): half the object cache
 * of a published repository's store (GitObjectStore's default, 16 MiB), so what
 * it read is still cached when the first reader asks.
 */
const TREES_AHEAD_BYTES = 8 * 2 ** 20

export class SwarmNode implements StateProvider {
  private readonly swarms = new Map<string, RepoSwarm>()
  private readonly byInfoHash = new Map<string, RepoSwarm>()
  private readonly published = new Map<string, GitObjectStore>()
  /** state bundles served, by repo (stateOf), bounded by bytes: STATE_CACHE_BYTES */
  private readonly states = new LRUCache<string, { token: string, bundle: Buffer }>({ maxSize: STATE_CACHE_BYTES, sizeCalculation: v => Math.max(1, v.bundle.length) })
  private readonly source: UnionSource
  private dht?: SwarmDht
  private transport?: Transport
  wirePort = 0
  dhtPort = 0
  /** GTFS_UPLOAD_RATE bytes/s, all peers together (unset: no limit) */
  private readonly limiter = uploadLimiter()
  private stopped = false

  constructor (private readonly o: SwarmNodeOptions) {
    this.source = new UnionSource(() => [o.store, ...this.published.values()])
  }

  async start (): Promise<void> {
    const files = dhtStateFiles(this.o.paths.state)
    this.dht = new SwarmDht({ routingTableFile: files.routingTable, pointerStateFile: files.pointers })
    const host = this.o.host ?? '0.0.0.0'
    const addr = await this.dht.start({ port: this.o.port ?? 0, host, bootstrap: this.o.bootstrap, listenOnly: true })
    this.dhtPort = addr.port
    this.transport = new Transport({
      host,
      port: addr.port, // the wire on the DHT's port number, as BitTorrent clients do
      accept: ih => this.byInfoHash.get(ih)?.context ?? null,
      peer: wirePeerOptions(this.o.settings)
    })
    try {
      this.wirePort = (await this.transport.listen()).port
    } catch {
      this.transport = new Transport({ host, port: 0, accept: ih => this.byInfoHash.get(ih)?.context ?? null, peer: wirePeerOptions(this.o.settings) })
      this.wirePort = (await this.transport.listen()).port
    }
    this.transport.on('peer', (peer: Peer) => {
      const s = peer.context === null ? undefined : this.byInfoHash.get(peer.context.infoHash.toString('hex'))
      s?.pool.add(peer)
    })
    this.transport.on('warning', (err: Error) => { log('wire: %s', err.message) })
    log('dht on udp %d, wire on tcp %d', this.dhtPort, this.wirePort)
  }

  async stop (): Promise<void> {
    this.stopped = true
    for (const s of this.swarms.values()) s.pool.close()
    await this.transport?.close()
    await this.dht?.stop()
    for (const st of this.published.values()) await st.close()
    this.published.clear()
  }

  /** Whether any repo's fetcher has objects on the way now. */
  fetching (): boolean {
    for (const s of this.swarms.values()) if (s.fetcher.inflight > 0) return true
    return false
  }

  /** The swarm of `repo`, created on first use. */
  swarm (repo: string): RepoSwarm {
    let s = this.swarms.get(repo)
    if (s !== undefined) return s
    const infoHash = swarmInfohash(repo)
    const pool = new PeerPool({ banBy: 'address' })
    pool.on('warning', (err: Error, peer?: Peer) => { warn(`peer ${peer?.address ?? '?'} of ${repo.slice(0, 12)}: ${err.message} (dropped)`) })
    const fetcher = new Fetcher({
      pool,
      sink: { write: async (type, data, id, deflated) => { await this.o.store.write(type, data, id, { sync: false, verified: true, deflated }) } },
      deadlineMs: this.o.settings.readDeadlineMs
    })
    s = {
      repo,
      infoHash,
      pool,
      fetcher,
      context: { infoHash, repoKeys: [repo], source: this.source, state: { state: async key => await this.stateOf(key) }, limiter: this.limiter },
      seeding: false,
      lastLookup: 0,
      looking: null,
      lookupDone: Promise.resolve(),
      stateFetches: 0,
      stateExports: 0,
      treesReadAhead: 0
    }
    this.swarms.set(repo, s)
    this.byInfoHash.set(infoHash.toString('hex'), s)
    return s
  }

  /** Serves `repo`: announces it and, when this machine publishes it, keeps its DHT pointer fresh. */
  async seed (repo: string): Promise<{ repo: string, pointer: boolean, seq: number | null }> {
    const s = this.swarm(repo)
    s.seeding = true
    const dht = this.running()
    const records = await this.o.session.records(repo)
    // The publisher says so in its hellos: readers ask peers that hold a copy first.
    if (records.gitDir !== null) s.context.origin = true
    if (records.gitDir !== null && !this.published.has(repo)) {
      // Large blobs of the repository are inflated once into files there, so that
      // ranges of them are positional reads (not one whole inflate per range).
      const st = await GitObjectStore.open(await objectsDirOf(records.gitDir), { unpackedDir: join(this.o.paths.cache, 'unpacked-published') }).catch(() => null)
      if (st !== null) this.published.set(repo, st)
    }
    await dht.keepAnnounced(s.infoHash, this.wirePort).catch((err: Error) => { warn(`announcing ${repo.slice(0, 12)}: ${err.message}`) })
    let pointer = false
    const seq = records.manifest === null ? null : parseManifest(records.manifest.bytes).seq
    const kp = await this.pointerKey(repo)
    if (kp !== null && records.manifest !== null) {
      await dht.keepPointer(kp, { manifestHash: manifestHash(records.manifest.bytes), seq: seq! }).then(
        () => { pointer = true },
        (err: Error) => { warn(`DHT pointer of ${repo.slice(0, 12)}: ${err.message}`) }
      )
    }
    return { repo, pointer, seq }
  }

  /** Seeds every repo this machine has records of. */
  async seedAll (): Promise<string[]> {
    const repos = await listRepos(this.o.session.home)
    const out: string[] = []
    for (const r of repos) {
      const rec = await this.o.session.records(r).catch(() => null)
      if (rec?.manifest === null || rec === null) continue
      await this.seed(r)
      out.push(r)
    }
    return out
  }

  /** An ObjectFetcher for the views of `repo`: dials peers first when there are none. */
  fetcherFor (repo: string): ObjectFetcher {
    const s = this.swarm(repo)
    return {
      fetch: async (ids: ObjectId[], opts = {}) => {
        if (s.pool.ready().length === 0) await this.findPeers(s, opts)
        try {
          return await s.fetcher.fetch(ids, opts)
        } catch (err) {
          if (!isGtfsError(err, 'ENOTFOUND') && !isGtfsError(err, 'ETIMEOUT')) throw err
          // Maybe newer peers hold it: look again once, then give up with the reason.
          await this.findPeers(s, opts, true)
          return await s.fetcher.fetch(ids, opts)
        }
      },
      fetchChunks: async (spec, indexes, opts = {}) => {
        if (s.pool.ready().length === 0) await this.findPeers(s, opts)
        await s.fetcher.fetchChunks(spec, indexes, opts)
      }
    }
  }

  async fetchState (repo: string, opts: AbortOptions & { onAsked?: () => void } = {}): Promise<Bundle | null> {
    const s = this.swarm(repo)
    s.stateFetches++
    await this.findPeers(s, opts)
    const asked = new Set<Peer>()
    const answering = this.bestState(repo, s, asked, opts)
    opts.onAsked?.()
    let best = await answering
    if (best === null) {
      // The first peers to answer had nothing usable: wait for the whole lookup and ask the rest.
      await s.lookupDone
      best = await this.bestState(repo, s, asked, opts)
    }
    return best
  }

  private async bestState (repo: string, s: RepoSwarm, asked: Set<Peer>, opts: AbortOptions): Promise<Bundle | null> {
    const peers = s.pool.ready().filter(p => !asked.has(p))
    for (const p of peers) asked.add(p)
    if (peers.length === 0) return null
    const fan = fanOut(opts.signal)
    const answers = await Promise.all(peers.map(async p => {
      try {
        return (await p.fetchState(repo, { signal: fan.signal, timeoutMs: 10_000 }))?.bundle ?? null
      } catch (err) {
        log('state from %s: %s', p.address, (err as Error).message)
        return null
      }
    })).finally(fan.release)
    // The newest claim first; trust/ judges it, and a bad one fails the mount with its reason.
    // Decoded once here (a 50,000-path catalog makes a bundle of a few MB):
    // the mount judges and imports this same decoding.
    let best: Bundle | null = null
    let bestSeq = -1
    for (const a of answers) {
      if (a === null) continue
      try {
        const b = decodeBundle(a)
        const seq = b.manifest === null ? -1 : parseManifest(b.manifest.bytes).seq
        if (seq > bestSeq) { best = b; bestSeq = seq }
      } catch (err) {
        log('unreadable state: %s', (err as Error).message)
      }
    }
    return best
  }

  async pointer (pointerKey: string, opts: AbortOptions = {}): Promise<{ manifestHash: string, seq: number } | null> {
    const p = await this.running().getPointer(Buffer.from(pointerKey, 'hex'), opts)
    return p === null || p.stale ? null : { manifestHash: p.manifestHash, seq: p.seq }
  }

  status (): unknown {
    return {
      dht: this.dht === undefined ? null : { port: this.dhtPort, nodes: this.dht.nodeCount },
      wirePort: this.wirePort,
      repos: [...this.swarms.values()].map(s => ({
        repo: s.repo,
        seeding: s.seeding,
        fetched: { ...s.fetcher.stats },
        stateFetches: s.stateFetches,
        stateExports: s.stateExports,
        treesReadAhead: s.treesReadAhead,
        pending: s.fetcher.inflight,
        backlog: s.fetcher.backlog,
        peers: s.pool.all().map(p => ({ address: p.address, incoming: p.incoming, ready: p.ready, ...p.stats, fetch: s.fetcher.peerLoad(p) })),
        banned: s.pool.banned()
      }))
    }
  }

  private running (): SwarmDht {
    if (this.dht === undefined) throw new GtfsError('EDHT', 'the swarm node is not running')
    return this.dht
  }

  private async pointerKey (repo: string): Promise<Ed25519Keypair | null> {
    const pem = await readFile(join(repoDir(this.o.session.home, repo), 'pointer.key'), 'utf8').catch(() => null)
    if (pem === null) return null
    const jwk = createPrivateKey(pem).export({ format: 'jwk' })
    return jwk.d === undefined ? null : keypairFromSeed(Buffer.from(jwk.d, 'base64url'))
  }

  /**
   * The state bundle this node serves for `repo`, exported again only when
   * what it is made of changed (exportToken): exporting the bench's wide repo
   * (its 2.5 MB catalog read, base64, JSON) cost the seeder ~40 ms of every
   * reader's first mount, and a popular seeder as much per reader.
   */
  private async stateOf (repo: string): Promise<{ bundle: Buffer } | null> {
    const token = await exportToken(this.o.session, repo).catch(() => null)
    const kept = token === null ? undefined : this.states.get(repo)
    if (kept !== undefined && kept.token === token) return { bundle: kept.bundle }
    const rec = await this.o.session.records(repo).catch(() => null)
    if (rec === null || rec.manifest === null || rec.policy.length === 0) return null
    const bundle = Buffer.from(await exportBundle(this.o.session, repo, { completeOnly: true }))
    const s = this.swarms.get(repo)
    if (s !== undefined) s.stateExports++
    if (token !== null) this.states.set(repo, { token, bundle })
    return { bundle }
  }

  /**
   * Makes the state bundles of `repos` ahead of the first request for them,
   * one after another, while the seeder has nothing else to do: a fresh
   * seeder's first answer loaded openpgp (its keys are exported) and exported
   * the bundle on that request, 100-200 ms of the first reader's mount
   * (measured in the first-byte harness). Then it reads their trees ahead
   * (readTreesAhead). Failures are left to the request, which tries again and
   * reports them.
   */
  async prepareState (repos: string[]): Promise<void> {
    await this.makeStates(repos)
    for (const repo of repos) {
      await this.readTreesAhead(repo).catch((err: Error) => { log('trees of %s not read ahead: %s', repo, err.message) })
    }
    // A bundle made within KEYRING_SETTLE_MS of a keyring change is not kept
    // (exportToken), and `gtfs publish` then `gtfs seed` is such a change: the
    // first reader's request made it again. Made again once it can be kept.
    const unkept = repos.filter(repo => this.states.get(repo) === undefined)
    if (unkept.length === 0) return
    setTimeout(() => { if (!this.stopped) void this.makeStates(unkept) }, KEYRING_SETTLE_MS + 100).unref()
  }

  /** The state bundles of `repos` not kept yet, made one after another (stateOf). */
  private async makeStates (repos: string[]): Promise<void> {
    for (const repo of repos) {
      if (this.states.get(repo) !== undefined) continue
      await this.stateOf(repo).catch((err: Error) => { log('state of %s not made ahead: %s', repo, err.message) })
    }
  }

  /**
   * Reads the trees of the repo's signed refs once, breadth first, up to
   * TREES_AHEAD_BYTES, so the first reader's structure request (every tree, in
   * one `want`) is served from the object cache by code that has run before.
   * Served cold, a fresh seeder sent the bench's 2,500 trees 130-170 ms after
   * the reader had verified the state, and the first mount after a publish
   * took 0.74-0.77 s from `gtfs mount` to the first byte instead of 0.60-0.61
   * (first-byte harness, three pairs). The walk took the seeder ~230 ms.
   */
  private async readTreesAhead (repo: string): Promise<void> {
    const rec = await this.o.session.records(repo)
    const s = this.swarms.get(repo)
    if (rec.manifest === null || s === undefined) return
    const queue: ObjectId[] = []
    const seen = new Set<ObjectId>()
    for (const { commit } of Object.values(parseManifest(rec.manifest.bytes).refs)) {
      const root = parseCommit((await this.source.read(commit)).data, commit).tree
      if (!seen.has(root)) { seen.add(root); queue.push(root) }
    }
    let bytes = 0
    for (let i = 0; i < queue.length && bytes < TREES_AHEAD_BYTES; i++) {
      const tree = await this.source.read(queue[i])
      bytes += tree.data.length
      s.treesReadAhead++
      for (const sub of subtreeIds(tree.data, queue[i])) {
        if (!seen.has(sub)) { seen.add(sub); queue.push(sub) }
      }
    }
  }

  /**
   * Looks for `repo`'s peers and dials them now, ahead of a fetch that will
   * want them (a mount's request on its way); a fetch meanwhile joins the
   * lookup. Never fails.
   */
  async lookAhead (repo: string, opts: AbortOptions = {}): Promise<void> {
    await this.findPeers(this.swarm(repo), opts).catch((err: Error) => { log('looking ahead for %s: %s', repo.slice(0, 12), err.message) })
  }

  /** Looks the repo up in the DHT (at most every few seconds) and dials peers it does not know yet. */
  private async findPeers (s: RepoSwarm, opts: AbortOptions, force = false): Promise<void> {
    if (s.looking !== null) { await s.looking; return }
    if (!force && Date.now() - s.lastLookup < LOOKUP_EVERY_MS && s.pool.ready().length > 0) return
    s.looking = (async () => {
      s.lastLookup = Date.now()
      // every dial waits on the signal: one per peer found
      const fan = fanOut(opts.signal)
      const dialOpts: AbortOptions = { signal: fan.signal }
      const tried = new Set(s.pool.all().map(p => p.address))
      const dials: Array<Promise<void>> = []
      const waiting: Array<{ host: string, port: number }> = []
      let dialing = 0
      let answered!: () => void
      const firstReady = new Promise<void>(resolve => { answered = resolve })
      // Dials start as others end, while fewer than MAX_READY peers are ready (see MAX_DIALS).
      const next = (): void => {
        while (dialing < MAX_DIALING && waiting.length > 0 && s.pool.ready().length < MAX_READY) {
          const p = waiting.shift()!
          dialing++
          dials.push(this.dial(s, [p], dialOpts).then(() => {
            dialing--
            if (s.pool.ready().length > 0) answered()
            next()
          }))
        }
      }
      // Peers are dialled as the lookup finds them: the DHT keeps announcements of
      // peers that are gone, and a full lookup waits on nodes that no longer answer.
      const onPeer = (p: { host: string, port: number }): void => {
        const id = `${p.host}:${p.port}`
        if (tried.has(id) || (p.port === this.wirePort && isLocal(p.host)) || tried.size >= MAX_DIALS) return
        tried.add(id)
        waiting.push(p)
        next()
      }
      const lookup = this.running().lookup(s.infoHash, { ...dialOpts, max: MAX_DIALS, onPeer }).catch(() => [])
      // a dial that ends starts the next before it settles: wait until none was added
      const finished = lookup.then(async () => {
        for (let seen = 0; seen < dials.length;) {
          const upTo = dials.length
          await Promise.allSettled(dials.slice(seen))
          seen = upTo
        }
      })
      s.lookupDone = finished
      void finished.finally(fan.release)
      await Promise.race([firstReady, finished])
    })().finally(() => { s.looking = null })
    await s.looking
  }

  private async dial (s: RepoSwarm, dials: Array<{ host: string, port: number }>, opts: AbortOptions): Promise<void> {
      await Promise.all(dials.map(async p => {
        try {
          const peer = await this.transport!.connect(p.host, p.port, s.context, opts)
          s.pool.add(peer)
        } catch (err) {
          log('dial %s:%d: %s', p.host, p.port, (err as Error).message)
        }
      }))
  }

  /** A fresh look at the swarm of `repo`, whatever the last one found. */
  async refreshPeers (repo: string, opts: AbortOptions = {}): Promise<void> {
    await this.findPeers(this.swarm(repo), opts, true)
  }
}

/**
 * A signal for many waits at once (one per peer) that follows `parent`. Each
 * wait adds an abort listener and removes it when it ends; fanning the
 * caller's signal itself out to more than 10 peers had node warn of a leak
 * (MaxListenersExceededWarning). `release` stops following the parent.
 */
function fanOut (parent: AbortSignal | undefined): { signal: AbortSignal | undefined, release: () => void } {
  if (parent === undefined) return { signal: undefined, release: () => {} }
  const ac = new AbortController()
  setMaxListeners(0, ac.signal)
  const onAbort = (): void => { ac.abort(parent.reason) }
  if (parent.aborted) onAbort()
  else parent.addEventListener('abort', onAbort, { once: true })
  return { signal: ac.signal, release: () => { parent.removeEventListener('abort', onAbort) } }
}

function isLocal (host: string): boolean {
  return host === '127.0.0.1' || host === '0.0.0.0' || host === '::1'
}

/**
 * Options of every connection. GTFS_WIRE_ZLIB=0 stops taking and sending
 * objects as zlib streams, GTFS_WIRE_OBJECTS=0 several small objects to a
 * message (each speaks as nodes before it did): switches for measuring, and
 * ways out should a peer's messages be a problem.
 */
function wirePeerOptions (settings: Settings): { maxObjectBytes: number, requestTimeoutMs: number, zlib: boolean, objects: boolean } {
  return { maxObjectBytes: 2 ** 30, requestTimeoutMs: Math.min(10_000, settings.readDeadlineMs), zlib: process.env.GTFS_WIRE_ZLIB !== '0', objects: process.env.GTFS_WIRE_OBJECTS !== '0' }
}

function uploadLimiter (): TokenBucket | undefined {
  const v = process.env.GTFS_UPLOAD_RATE
  if (v === undefined || v === '') return undefined
  const rate = Number(v)
  if (!Number.isFinite(rate) || rate <= 0) throw new GtfsError('EBADCONFIG', `GTFS_UPLOAD_RATE must be a positive number of bytes per second, not ${JSON.stringify(v)}`)
  return new TokenBucket(rate)
}

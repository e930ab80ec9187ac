/**
 * SwarmDht: the mainline DHT node of a gtfs process, the one place that wraps
 * bittorrent-dht (callbacks and events → promises with deadlines).
 *
 * - pointers (BEP44 mutable items, see pointer.ts): `putPointer`, `getPointer`
 *   (always `cache: false`, signatures checked with our synchronous ed25519),
 *   `keepPointer` republishes on a timer; the seq of every pointer published
 *   is persisted so a restart never goes back.
 * - swarms (BEP5): `announce`, `lookup` of a repo's infohash (infohash.ts);
 *   `keepAnnounced` re-announces on a timer.
 * - the routing table is loaded on start and saved on stop.
 *
 * Every wait takes `{ signal }` and has a default deadline; `stop()` ends every
 * pending wait. Failures are GtfsErrors: EBOOTSTRAP, EDHT, ETIMEOUT, EABORTED,
 * EBADPOINTER, EPOINTERSEQ, EPOINTERCAS, EDHTSTATE, EBADKEY, EBADINFOHASH.
 * Misbehaving nodes never crash the process: malformed queries are dropped
 * (dht-guard.ts) and forged pointers are ignored.
 */
import { createHash } from 'node:crypto'
import { isIPv4 } from 'node:net'
import DHT, { type DhtNode, type GetResult } from 'bittorrent-dht'
import { GtfsError, ProtocolError, UsageError, isGtfsError } from '../errors.ts'
import { logger } from '../log.ts'
import type { AbortOptions } from '../types.ts'
import { formatBootstrap, resolveBootstrap, type Bootstrap, type BootstrapNode } from './dht-bootstrap.ts'
import { guardQueries } from './dht-guard.ts'
import { Repeater } from './dht-repeat.ts'
import { PointerSeqStore, loadRoutingTable, saveRoutingTable, type SavedNode } from './dht-state.ts'
import { settle } from './dht-wait.ts'
import { publicKeyFrom, verify, sign, type Ed25519Keypair } from './ed25519.ts'
import { INFOHASH_BYTES } from './infohash.ts'
import { EBADPOINTER, checkPointer, decodePointerValue, encodePointerValue, isSeq, type Pointer } from './pointer.ts'

const log = logger('gtfs:swarm:dht')

export const DHT_DEFAULTS = Object.freeze({
  /** milliseconds until start() gives up on listening and bootstrapping */
  startDeadlineMs: 30_000,
  /** milliseconds for one put, get or announce */
  deadlineMs: 20_000,
  /** milliseconds a lookup collects peers before it returns what it has */
  lookupDeadlineMs: 15_000,
  /** milliseconds a single UDP query waits for its answer (k-rpc-socket) */
  queryTimeoutMs: 2_000,
  /** milliseconds between republishes of a kept pointer (BEP44 nodes may drop items after 2 h) */
  republishIntervalMs: 20 * 60_000,
  /** milliseconds between re-announces of a kept infohash (BEP5 peers expire after ~30 min) */
  reannounceIntervalMs: 15 * 60_000
})

export interface SwarmDhtOptions {
  /** where the routing table is loaded from on start and saved to on stop */
  routingTableFile?: string
  /** where the seq of every published pointer is kept (see dht-state.ts) */
  pointerStateFile?: string
  startDeadlineMs?: number
  deadlineMs?: number
  lookupDeadlineMs?: number
  queryTimeoutMs?: number
  republishIntervalMs?: number
  reannounceIntervalMs?: number
  /** 20-byte node id (default: random) */
  nodeId?: Uint8Array
  /** for GTFS_TEST and GTFS_BOOTSTRAP (default: process.env) */
  env?: NodeJS.ProcessEnv
}

export interface StartOptions extends AbortOptions {
  /** UDP port; 0 or absent: any free port */
  port?: number
  /** address to listen on (default: all IPv4 addresses) */
  host?: string
  /** 'host:port,…', a list, or false/'none' for the first node of a network; see dht-bootstrap.ts */
  bootstrap?: string | ReadonlyArray<string | BootstrapNode> | false
  /**
   * Resolve once the socket listens, without waiting for the bootstrap
   * traversal to end ('ready'): a network with dead nodes in it makes that wait
   * last several query timeouts, and lookups work meanwhile. Default false.
   */
  listenOnly?: boolean
}

export interface Peer {
  host: string
  port: number
}

export interface ResolvedPointer extends Pointer {
  /** highest seq this node has seen or published for the key, this one included */
  highestSeen: number
  /** true when `seq` is lower than one seen before: an old item replayed, or stale nodes */
  stale: boolean
}

export interface PutResult {
  /** nodes that accepted the item (0 for a republish every node already held) */
  nodes: number
}

export interface LookupOptions extends AbortOptions {
  /** return as soon as this many distinct peers are known */
  max?: number
  /** milliseconds; at the deadline the peers found so far are returned */
  timeoutMs?: number
  /** called for each distinct peer as soon as it is found (a caller may dial it at once) */
  onPeer?: (peer: Peer) => void
}

interface KeptPointer { keypair: Ed25519Keypair, pointer: Pointer }
interface KeptAnnounce { infohash: Buffer, port: number }

export interface DhtStatus {
  address: Peer | null
  bootstrap: string
  nodes: number
  pointers: Array<{ publicKey: string, seq: number, manifestHash: string, lastOk: Date | null, lastError: string | null }>
  announced: Array<{ infohash: string, port: number, lastOk: Date | null, lastError: string | null }>
}

function dhtError (message: string, cause?: unknown, hint?: string): GtfsError {
  return new GtfsError('EDHT', message, { cause, hint })
}

function positive (v: number | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt
  if (!Number.isFinite(v) || v <= 0) throw new UsageError('EBADCONFIG', `${name} must be a positive number of milliseconds`)
  return v
}

/** A 20-byte infohash from bytes or 40 hex digits. */
export function toInfohash (x: Uint8Array | string): Buffer {
  if (typeof x === 'string' && /^[0-9a-fA-F]{40}$/.test(x)) return Buffer.from(x, 'hex')
  if (x instanceof Uint8Array && x.byteLength === INFOHASH_BYTES) return Buffer.from(x)
  throw new UsageError('EBADINFOHASH', 'an infohash is 20 bytes (40 hex digits)')
}

function checkPort (port: number, allowZero: boolean): number {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw new UsageError('EBADPORT', `not a port: ${String(port)}`, { hint: 'a port is 1-65535' })
  }
  return port
}

/** BEP44: the DHT key of a mutable item without salt is SHA-1 of the public key. */
function pointerTarget (publicKey: Buffer): Buffer {
  return createHash('sha1').update(publicKey).digest()
}

export class SwarmDht {
  private readonly opts: Required<Omit<SwarmDhtOptions, 'routingTableFile' | 'pointerStateFile' | 'nodeId' | 'env'>>
  private readonly routingTableFile: string | undefined
  private readonly nodeId: Buffer | undefined
  private readonly env: NodeJS.ProcessEnv
  private readonly published: PointerSeqStore
  /** highest seq seen per public key (hex), from gets and our own puts */
  private readonly seen = new Map<string, number>()
  private readonly keptPointers = new Map<string, KeptPointer>()
  private readonly keptAnnounces = new Map<string, KeptAnnounce>()
  /** keys: 'pointer:<public key hex>', 'announce:<infohash hex>' */
  private readonly repeater = new Repeater(log)
  private dht: DHT | null = null
  private bootstrap: Bootstrap = false
  private starting: Promise<Peer> | null = null
  private stopping: Promise<void> | null = null
  /** aborted by stop(): ends every pending wait */
  private life = new AbortController()

  constructor (opts: SwarmDhtOptions = {}) {
    this.opts = {
      startDeadlineMs: positive(opts.startDeadlineMs, 'startDeadlineMs', DHT_DEFAULTS.startDeadlineMs),
      deadlineMs: positive(opts.deadlineMs, 'deadlineMs', DHT_DEFAULTS.deadlineMs),
      lookupDeadlineMs: positive(opts.lookupDeadlineMs, 'lookupDeadlineMs', DHT_DEFAULTS.lookupDeadlineMs),
      queryTimeoutMs: positive(opts.queryTimeoutMs, 'queryTimeoutMs', DHT_DEFAULTS.queryTimeoutMs),
      republishIntervalMs: positive(opts.republishIntervalMs, 'republishIntervalMs', DHT_DEFAULTS.republishIntervalMs),
      reannounceIntervalMs: positive(opts.reannounceIntervalMs, 'reannounceIntervalMs', DHT_DEFAULTS.reannounceIntervalMs)
    }
    if (opts.nodeId !== undefined && (!(opts.nodeId instanceof Uint8Array) || opts.nodeId.byteLength !== 20)) {
      throw new UsageError('EBADCONFIG', 'nodeId must be 20 bytes')
    }
    this.nodeId = opts.nodeId === undefined ? undefined : Buffer.from(opts.nodeId)
    this.routingTableFile = opts.routingTableFile
    this.env = opts.env ?? process.env
    this.published = new PointerSeqStore(opts.pointerStateFile)
  }

  // ── lifecycle ──────────────────────────────────────────────────────────

  /**
   * Listens on UDP `port` and bootstraps; resolves with the address once the
   * routing table is populated (at once for bootstrap false). A second call
   * returns the first call's promise. EBOOTSTRAP before any traffic when the
   * bootstrap list is missing under GTFS_TEST=1 or malformed.
   */
  async start (opts: StartOptions = {}): Promise<Peer> {
    if (this.stopping !== null) throw dhtError('this DHT node was stopped; make a new one')
    if (this.starting === null) {
      this.starting = this.doStart(opts)
      this.starting.catch(() => { this.starting = null })
    }
    return await this.starting
  }

  private async doStart (opts: StartOptions): Promise<Peer> {
    const bootstrap = resolveBootstrap(opts.bootstrap, this.env)
    const port = checkPort(opts.port ?? 0, true)
    const host = opts.host
    if (host !== undefined && !isIPv4(host)) throw new UsageError('EBADHOST', `cannot listen on ${host}: an IPv4 address is needed`)
    await this.published.load()
    const saved = this.routingTableFile === undefined ? [] : await loadRoutingTable(this.routingTableFile)

    const dht = new DHT({
      // Never undefined: bittorrent-dht would fall back to the mainline routers.
      bootstrap: bootstrap === false ? false : bootstrap.map(n => ({ host: n.host, port: n.port })),
      verify,
      host: false,
      timeout: this.opts.queryTimeoutMs,
      // queries in flight (k-rpc's default is 16): a routing table holding nodes
      // that are gone (churn) filled all 16 slots with queries waiting out their
      // timeout, and a lookup's first query to a live node queued behind them
      // (2.6 s lookups on a loopback DHT with 44 stale nodes, 10 ms without).
      concurrency: 64,
      ...(this.nodeId === undefined ? {} : { nodeId: this.nodeId })
    })
    this.dht = dht
    this.bootstrap = bootstrap
    guardQueries(dht, log)
    dht.setMaxListeners(0) // one 'peer' listener per pending lookup, each removed when it ends
    dht.on('warning', (err: Error) => { log('warning: %s', err?.message) })
    let failed: ((err: Error) => void) | null = null
    dht.on('error', (err: Error) => {
      // k-rpc-socket reports only EACCES and EADDRINUSE as errors.
      log('error: %s', err?.message)
      failed?.(err)
    })
    // Saved nodes go into the table right after listen(), in the same tick, so
    // the bootstrap lookup (next tick) already asks them and drops those that no
    // longer answer. Not before listen(): adding a node may send (a ping of an
    // id-less node, or of old nodes when a bucket is full), a send on an unbound
    // UDP socket binds it to a random port, and listen() then failed with
    // "Socket is already bound". Once binding has begun, sends wait for it.
    //
    // With a bootstrap list, saved nodes go in without their ids: each is
    // pinged and joins the table when it answers. One that no longer does
    // (its port changed, it left) never joins, so the bootstrap lookup does
    // not wait out its query timeout: a reader restarted after its DHT peer
    // moved mounted in 3.6 s instead of 1.1 s, 2 s of it k-rpc's timeout on
    // that one stale node. Without a bootstrap list the table is all there
    // is, and it goes in at once, ids and all.
    const addSaved = (): void => {
      for (const n of saved) {
        dht.addNode(n.id === undefined || bootstrap !== false ? { host: n.host, port: n.port } : { host: n.host, port: n.port, id: n.id } satisfies DhtNode)
      }
    }
    log('starting on %s:%d, bootstrap %s, %d saved nodes', host ?? '0.0.0.0', port, formatBootstrap(bootstrap), saved.length)

    try {
      await this.wait<void>('DHT start', opts.signal, this.opts.startDeadlineMs, (resolve, reject) => {
        let listening = false
        let ready = dht.ready === true || opts.listenOnly === true
        const check = (): void => { if (listening && ready) resolve() }
        failed = (err) => {
          const code = (err as NodeJS.ErrnoException).code
          reject(dhtError(`cannot listen on UDP ${host ?? '0.0.0.0'}:${port}: ${err.message}`, err, code === 'EADDRINUSE' ? 'choose another --port (or GTFS_PORT)' : undefined))
        }
        dht.once('listening', () => { listening = true; check() })
        dht.once('ready', () => { ready = true; check() })
        // Sends queued before the bind completes leave from the bound socket.
        dht.listen(port, host)
        addSaved()
      })
    } catch (err) {
      failed = null
      this.dht = null
      await new Promise<void>(resolve => { dht.destroy(() => { resolve() }) })
      throw err
    }
    failed = null
    const a = dht.address()
    log('listening on %s:%d with %d nodes', a.address, a.port, dht.nodes.count())
    return { host: a.address, port: a.port }
  }

  /** Stops timers and pending waits, saves the routing table, closes the socket. Idempotent. */
  async stop (): Promise<void> {
    if (this.stopping === null) this.stopping = this.doStop()
    await this.stopping
  }

  private async doStop (): Promise<void> {
    this.repeater.stop()
    this.keptPointers.clear()
    this.keptAnnounces.clear()
    this.life.abort(dhtError('the DHT node is stopping'))
    if (this.starting !== null) await this.starting.catch(() => {})
    const dht = this.dht
    if (dht === null) return
    try {
      await this.saveRoutingTable()
    } catch (err) {
      log('could not save the routing table: %s', (err as Error).message)
    }
    this.dht = null
    await new Promise<void>(resolve => { dht.destroy(() => { resolve() }) })
    log('stopped')
  }

  /** Writes the routing table now (also done by stop). An empty table never replaces a saved one. */
  async saveRoutingTable (): Promise<void> {
    const dht = this.dht
    if (dht === null || this.routingTableFile === undefined) return
    const nodes: SavedNode[] = dht.nodes.toArray()
      .filter(n => isIPv4(n.host) && Number.isInteger(n.port) && n.port > 0 && n.port < 65536 && n.id instanceof Uint8Array && n.id.byteLength === 20)
      .map(n => ({ host: n.host, port: n.port, id: Buffer.from(n.id) }))
    if (nodes.length === 0) return
    await saveRoutingTable(this.routingTableFile, nodes)
    log('saved %d nodes to %s', nodes.length, this.routingTableFile)
  }

  /** The UDP address, or null when not running. */
  address (): Peer | null {
    if (this.dht === null || !this.dht.listening) return null
    const a = this.dht.address()
    return { host: a.address, port: a.port }
  }

  /** Nodes in the routing table. */
  get nodeCount (): number {
    return this.dht === null ? 0 : this.dht.nodes.count()
  }

  status (): DhtStatus {
    return {
      address: this.address(),
      bootstrap: formatBootstrap(this.bootstrap),
      nodes: this.nodeCount,
      pointers: [...this.keptPointers.entries()].map(([pk, k]) => ({ publicKey: pk, seq: k.pointer.seq, manifestHash: k.pointer.manifestHash, ...this.repeater.status(`pointer:${pk}`) })),
      announced: [...this.keptAnnounces.entries()].map(([ih, k]) => ({ infohash: ih, port: k.port, ...this.repeater.status(`announce:${ih}`) }))
    }
  }

  private running (): DHT {
    if (this.dht === null || this.stopping !== null) throw dhtError('the DHT node is not running', undefined, 'start() it first')
    return this.dht
  }

  /** One callback-style operation under the caller's signal, stop(), and a deadline (dht-wait.ts). */
  private async wait<T> (what: string, signal: AbortSignal | undefined, ms: number,
    body: (resolve: (v: T) => void, reject: (e: unknown) => void) => (() => void) | void,
    onDeadline?: () => T): Promise<T> {
    const signals = signal === undefined ? [this.life.signal] : [signal, this.life.signal]
    // bittorrent-dht throws plain Errors for arguments it refuses
    const wrap = (err: unknown): unknown => isGtfsError(err) ? err : dhtError(`${what}: ${(err as Error)?.message}`, err)
    return await settle(what, signals, ms, body, onDeadline === undefined ? { wrap } : { wrap, onDeadline })
  }

  // ── pointers (BEP44) ───────────────────────────────────────────────────

  /**
   * Puts the pointer `{ manifestHash, seq }` under the keypair's public key.
   * The seq is persisted first; a lower seq than one already published with
   * this key, or the same seq for another manifest, is EPOINTERSEQ without
   * any traffic. Republishing the exact same pointer is allowed. With `cas`,
   * nodes store it only over the item whose seq is `cas` (EPOINTERCAS).
   */
  async putPointer (keypair: Ed25519Keypair, pointer: Pointer, opts: AbortOptions & { cas?: number } = {}): Promise<PutResult> {
    const dht = this.running()
    const p = checkPointer(pointer)
    const k = publicKeyFrom(keypair.publicKey)
    if (opts.cas !== undefined && !isSeq(opts.cas)) throw new ProtocolError(EBADPOINTER, 'cas must be a non-negative safe integer')
    const pkHex = k.toString('hex')
    const kind = await this.published.advance(pkHex, p)
    this.noteSeen(pkHex, p.seq)
    // A newer pointer put by hand replaces the one a timer republishes.
    const kept = this.keptPointers.get(pkHex)
    if (kept !== undefined && kept.pointer.seq < p.seq) kept.pointer = p
    const v = encodePointerValue(p)
    const what = `pointer put ${pkHex.slice(0, 12)}… seq ${p.seq}`
    const nodes = await this.wait<number>(what, opts.signal, this.opts.deadlineMs, (resolve, reject) => {
      dht.put({ k, v, seq: p.seq, ...(opts.cas === undefined ? {} : { cas: opts.cas }), sign: (msg) => sign(msg, keypair) }, (err, _hash, n) => {
        if (err === null || err === undefined) { resolve(n); return }
        const code = (err as { code?: unknown }).code
        // BEP44 errors: 301 CAS mismatch, 302 sequence number less than current.
        // bittorrent-dht answers 302 to an equal seq too, so a republish that
        // every node already holds ends here; that is success.
        if (code === 302 && kind === 'same') { resolve(0); return }
        if (code === 302) { reject(new GtfsError('EPOINTERSEQ', `${what}: the DHT already holds this key's pointer at this seq or higher`, { cause: err, hint: 'publish with a higher seq' })); return }
        if (code === 301) { reject(new GtfsError('EPOINTERCAS', `${what}: the stored seq is not ${String(opts.cas)}`, { cause: err, hint: 're-read the pointer and retry' })); return }
        reject(dhtError(`${what}: no DHT node stored it (${err.message})`, err, 'check the bootstrap nodes and that this node reaches the DHT'))
      })
    })
    log('%s: stored on %d nodes', what, nodes)
    return { nodes }
  }

  /**
   * The pointer stored under `publicKey` (32 bytes or 64 hex), or null when
   * no node has one with a valid signature. Forged items (bad signature) are
   * ignored with a debug log. A validly signed item whose value is not a
   * pointer is EBADPOINTER. `stale` reports a seq lower than one this node
   * saw before, so the caller can tell a replay; `seq` is always returned.
   */
  async getPointer (publicKey: Uint8Array | string, opts: AbortOptions = {}): Promise<ResolvedPointer | null> {
    const dht = this.running()
    const pk = publicKeyFrom(publicKey)
    const pkHex = pk.toString('hex')
    const target = pointerTarget(pk)
    let forged = 0
    const checked = (sig: unknown, msg: unknown, key: unknown): boolean => {
      const ok = verify(sig, msg, key)
      if (!ok) forged++
      return ok
    }
    const what = `pointer get ${pkHex.slice(0, 12)}…`
    // cache: false, or bittorrent-dht answers from its own store without asking the network.
    let res = await this.wait<GetResult | null>(what, opts.signal, this.opts.deadlineMs, (resolve, reject) => {
      dht.get(target, { cache: false, verify: checked }, (err, r) => {
        if (err !== null && err !== undefined) reject(dhtError(`${what}: ${err.message}`, err))
        else resolve(r ?? null)
      })
    })
    if (forged > 0) log('%s: ignored %d item(s) with a bad signature', what, forged)
    // Items other nodes stored here (verified on arrival) are not asked for by
    // the network lookup; take ours when it is newer (a two-node network).
    const local = dht._values.get(target.toString('hex'))
    if (local !== undefined && local.k !== undefined && isSeq(local.seq) && (res === null || !isSeq(res.seq) || local.seq > res.seq)) res = local
    if (res === null) return null
    if (!(res.k instanceof Uint8Array) || !Buffer.from(res.k).equals(pk)) return null
    if (!isSeq(res.seq)) throw new ProtocolError(EBADPOINTER, `${what}: the signed item has no valid seq`)
    const manifestHash = decodePointerValue(res.v)
    const highestSeen = Math.max(this.noteSeen(pkHex, res.seq), res.seq)
    const stale = res.seq < highestSeen
    if (stale) log('%s: got seq %d but seq %d was seen before (replay or stale nodes)', what, res.seq, highestSeen)
    return { manifestHash, seq: res.seq, highestSeen, stale }
  }

  /** Records a seen seq; returns the highest seen before (or this one). */
  private noteSeen (pkHex: string, seq: number): number {
    const prev = Math.max(this.seen.get(pkHex) ?? -1, this.published.get(pkHex)?.seq ?? -1)
    if (seq > prev) this.seen.set(pkHex, seq)
    return Math.max(prev, seq)
  }

  /**
   * Puts the pointer now and again every `republishIntervalMs` until
   * `forgetPointer` or `stop`. Replaces the kept pointer of the same key.
   * The first put's outcome is returned (or thrown); the pointer stays kept
   * either way, and later failures show in `status()`.
   */
  async keepPointer (keypair: Ed25519Keypair, pointer: Pointer, opts: AbortOptions = {}): Promise<PutResult> {
    this.running()
    const p = checkPointer(pointer)
    const pkHex = publicKeyFrom(keypair.publicKey).toString('hex')
    const kept: KeptPointer = { keypair, pointer: p }
    this.keptPointers.set(pkHex, kept)
    let first = true
    return await this.repeater.keep(`pointer:${pkHex}`, this.opts.republishIntervalMs, `republish ${pkHex.slice(0, 12)}…`, async () => {
      const signal = first ? opts.signal : undefined
      first = false
      return await this.putPointer(kept.keypair, kept.pointer, signal === undefined ? {} : { signal })
    })
  }

  forgetPointer (publicKey: Uint8Array | string): void {
    const pkHex = publicKeyFrom(publicKey).toString('hex')
    this.repeater.forget(`pointer:${pkHex}`)
    this.keptPointers.delete(pkHex)
  }

  // ── swarms (BEP5) ──────────────────────────────────────────────────────

  /**
   * Announces this host as a peer of `infohash` on TCP `port` (0: the DHT's
   * own UDP port, BEP5 implied_port). Resolves with how many nodes took it.
   */
  async announce (infohash: Uint8Array | string, port: number, opts: AbortOptions = {}): Promise<PutResult> {
    const dht = this.running()
    const ih = toInfohash(infohash)
    checkPort(port, true)
    const what = `announce ${ih.toString('hex').slice(0, 12)}… port ${port}`
    const nodes = await this.wait<number>(what, opts.signal, this.opts.deadlineMs, (resolve, reject) => {
      dht.announce(ih, port, (err, n) => {
        if (err !== null && err !== undefined) reject(dhtError(`${what}: no DHT node took it (${err.message})`, err))
        else resolve(n ?? 0)
      })
    })
    log('%s: %d nodes', what, nodes)
    return { nodes }
  }

  /**
   * Peers of `infohash`, de-duplicated, collected until the lookup ends, `max`
   * are known, or the deadline (then what was found is returned). A caller's
   * abort rejects.
   */
  async lookup (infohash: Uint8Array | string, opts: LookupOptions = {}): Promise<Peer[]> {
    const dht = this.running()
    const ih = toInfohash(infohash)
    const max = opts.max ?? Infinity
    if (!(max >= 1)) throw new UsageError('EBADCONFIG', 'lookup max must be at least 1')
    const found = new Map<string, Peer>()
    const what = `lookup ${ih.toString('hex').slice(0, 12)}…`
    const peers = await this.wait<Peer[]>(what, opts.signal, opts.timeoutMs ?? this.opts.lookupDeadlineMs, (resolve) => {
      const onPeer = (peer: Peer, forHash: Buffer): void => {
        if (!Buffer.isBuffer(forHash) || !forHash.equals(ih)) return
        if (typeof peer?.host !== 'string' || !isIPv4(peer.host) || !Number.isInteger(peer.port) || peer.port < 1 || peer.port > 65535) return
        const id = `${peer.host}:${peer.port}`
        if (found.has(id)) return
        found.set(id, { host: peer.host, port: peer.port })
        try { opts.onPeer?.({ host: peer.host, port: peer.port }) } catch (err) { log('%s: onPeer: %s', what, (err as Error).message) }
        if (found.size >= max) resolve([...found.values()])
      }
      dht.on('peer', onPeer)
      const abort = dht.lookup(ih, (err) => {
        if (err !== null && err !== undefined) log('%s: %s', what, err.message)
        resolve([...found.values()])
      })
      return () => { dht.off('peer', onPeer); abort() }
    }, () => [...found.values()])
    log('%s: %d peers', what, peers.length)
    return peers
  }

  /**
   * Announces now and again every `reannounceIntervalMs` until
   * `forgetAnnounced` or `stop`; same contract as keepPointer.
   */
  async keepAnnounced (infohash: Uint8Array | string, port: number, opts: AbortOptions = {}): Promise<PutResult> {
    this.running()
    const ih = toInfohash(infohash)
    checkPort(port, true)
    const key = ih.toString('hex')
    this.keptAnnounces.set(key, { infohash: ih, port })
    let first = true
    return await this.repeater.keep(`announce:${key}`, this.opts.reannounceIntervalMs, `re-announce ${key.slice(0, 12)}…`, async () => {
      const signal = first ? opts.signal : undefined
      first = false
      return await this.announce(ih, port, signal === undefined ? {} : { signal })
    })
  }

  forgetAnnounced (infohash: Uint8Array | string): void {
    const key = toInfohash(infohash).toString('hex')
    this.repeater.forget(`announce:${key}`)
    this.keptAnnounces.delete(key)
  }
}


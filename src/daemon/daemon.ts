/**
 * The gtfs daemon: one per user (GTFS_HOME), holding every mount behind a unix
 * control socket. It keeps a record of each mount in the registry so that, if
 * it is killed, `gtfs umount` can still find and clean up what it left.
 * (The swarm issue adds the DHT node, the wire listener and the shared store here.)
 */
import { readFile } from 'node:fs/promises'
import type { Server } from 'node:net'
import { join, resolve } from 'node:path'
import type { Paths, Settings } from '../config.ts'
import { GtfsError, UsageError } from '../errors.ts'
import { checkMountpoint, isMounted } from '../fs/preflight.ts'
import { logger, setWarnSink } from '../log.ts'
import { socketPath } from './control-protocol.ts'
import { listenControl } from './control-server.ts'
import { openAutomount, type Automount } from './automount.ts'
import { CommandFinder, type FoundCommand } from './find-command.ts'
import { openLocalMount, type ActiveMount } from './local-mount.ts'
import { removeRecord, writeRecord } from './mount-registry.ts'
import { Session } from '../publish/session.ts'
import { parseRepoRef } from '../repo/repo-ref.ts'
import { recordingsSettled } from '../repo/swarm-repo.ts'
import { GitObjectStore } from '../store/object-store.ts'
import { Prefetcher } from './prefetch.ts'
import { startGcPacing, type GcPacing } from './gc-pacing.ts'
import { StoreKeeper } from './store-keeper.ts'
import { openSwarmMount, type SwarmMount } from './swarm-mount.ts'
import { SwarmNode } from './swarm-node.ts'

const log = logger('gtfs:daemon:daemon')

/**
 * The daemon's memory in bytes: resident now and at its peak (VmHWM, the
 * `rss` figure of the benchmark), and how much of it is V8's heap and how
 * much buffers outside it (pack blocks, inflated objects, FUSE replies).
 */
async function memoryStatus (): Promise<Record<string, number>> {
  const m = process.memoryUsage()
  const peak = /VmHWM:\s+(\d+) kB/.exec(await readFile('/proc/self/status', 'utf8').catch(() => ''))
  return { rss: m.rss, peakRss: peak === null ? m.rss : Number(peak[1]) * 1024, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers }
}

export interface SwarmOptions {
  /** host:port,... or "none"; only used when the swarm node starts */
  bootstrap?: string
  /** UDP (DHT) and TCP (wire) port; only used when the swarm node starts */
  port?: number
}

export interface KeyMountRequest extends SwarmOptions {
  key: string
  ref?: string
  dir: string
  pin?: boolean
  allowExpired?: boolean
  allowOther?: boolean
  suid?: boolean
  dev?: boolean
}

export interface AutomountRequest extends SwarmOptions {
  dir: string
  allowOther?: boolean
}

export interface MountRequest {
  gitDir: string
  ref?: string
  commit?: string
  dir: string
  allowOther?: boolean
  suid?: boolean
  dev?: boolean
  readDeadlineMs?: number
}

function swarmArgs (args: Record<string, unknown>): SwarmOptions {
  return {
    bootstrap: typeof args.bootstrap === 'string' ? args.bootstrap : undefined,
    port: typeof args.port === 'number' ? args.port : undefined
  }
}

function str (v: unknown, name: string, optional = false): string | undefined {
  if (v === undefined && optional) return undefined
  if (typeof v !== 'string' || v === '') throw new UsageError('EUSAGE', `control request: ${name} must be a non-empty string`)
  return v
}

export class Daemon {
  private readonly mounts = new Map<string, ActiveMount>()
  private readonly warnings: Array<{ at: string, message: string }> = []
  private swarm?: Promise<{ node: SwarmNode, session: Session, store: GitObjectStore, finder: CommandFinder }>
  private storage?: Promise<{ session: Session, store: GitObjectStore, keeper: StoreKeeper, prefetcher: Prefetcher }>
  /** GC pacing, by whether the swarm node fetches (gc-pacing.ts) */
  private pacing: GcPacing = { growth: null, stop: () => {} }
  /** the swarm node once started, for the pacing */
  private node?: SwarmNode
  /** the swarm options of the last request that may start the swarm node (prefetch starts it with them) */
  private lastSwarmArgs: SwarmOptions = {}
  private server?: Server
  private watch?: NodeJS.Timeout
  private stopping?: Promise<void>
  private finish!: () => void
  readonly started = new Date()
  /** settles once the daemon has stopped and released everything */
  readonly stopped = new Promise<void>(resolve => { this.finish = resolve })

  constructor (private readonly paths: Paths, private readonly settings: Settings) {}

  async start (): Promise<void> {
    this.pacing = startGcPacing({ fetching: () => this.node?.fetching() === true })
    setWarnSink(message => {
      this.warnings.push({ at: new Date().toISOString(), message })
      if (this.warnings.length > 50) this.warnings.shift()
      process.stderr.write(`${new Date().toISOString()} warning: ${message}\n`)
    })
    this.server = await listenControl(socketPath(this.paths), {
      ping: async () => ({ pid: process.pid }),
      status: async () => await this.status(),
      mount: async args => args.key !== undefined
        ? await this.mountKey({
          key: str(args.key, 'key')!,
          ref: str(args.ref, 'ref', true),
          dir: str(args.dir, 'dir')!,
          pin: args.pin === true,
          allowExpired: args.allowExpired === true,
          allowOther: args.allowOther === true,
          suid: args.suid === true,
          dev: args.dev === true,
          ...swarmArgs(args)
        })
        : await this.mount({
        gitDir: str(args.gitDir, 'gitDir')!,
        ref: str(args.ref, 'ref', true),
        commit: str(args.commit, 'commit', true),
        dir: str(args.dir, 'dir')!,
        allowOther: args.allowOther === true,
        suid: args.suid === true,
        dev: args.dev === true,
        readDeadlineMs: typeof args.readDeadlineMs === 'number' ? args.readDeadlineMs : undefined
      }),
      automount: async args => await this.automount({ dir: str(args.dir, 'dir')!, allowOther: args.allowOther === true, ...swarmArgs(args) }),
      'find-command': async args => await this.findCommand(str(args.name, 'name')!),
      umount: async args => await this.umount(str(args.dir, 'dir')!),
      'cache-stats': async () => await (await this.openStore()).keeper.stats(),
      'cache-gc': async args => {
        const max = args.maxBytes
        if (max !== undefined && (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 0)) throw new UsageError('EUSAGE', 'control request: maxBytes must be a whole number of bytes')
        return await (await this.openStore()).keeper.gc(max)
      },
      'cache-prefetch': async args => {
        this.lastSwarmArgs = swarmArgs(args)
        const { prefetcher } = await this.openStore()
        const ref = await parseRepoRef(str(args.key, 'key')!, this.paths.data)
        return await prefetcher.start(ref.key, str(args.ref, 'ref', true) ?? ref.ref, typeof args.path === 'string' ? args.path : '/')
      },
      'cache-progress': async args => {
        if (typeof args.job !== 'number') throw new UsageError('EUSAGE', 'control request: job must be a number')
        return (await this.openStore()).prefetcher.progress(args.job)
      },
      seed: async args => {
        const { node, session } = await this.startSwarm(swarmArgs(args))
        const keys = Array.isArray(args.keys) ? args.keys.map(k => String(k)) : []
        const repos = keys.length > 0
          ? await Promise.all(keys.map(async k => (await parseRepoRef(k, this.paths.data)).key))
          : null
        const seeded = repos === null ? await node.seedAll() : await Promise.all(repos.map(async r => { await session.records(r); return (await node.seed(r)).repo }))
        // The first reader's state request then finds its answer made, and its
        // structure request the trees read once (SwarmNode.prepareState).
        setImmediate(() => { void node.prepareState(seeded) })
        return { seeding: seeded, dhtPort: node.dhtPort, wirePort: node.wirePort }
      },
      stop: async () => {
        setImmediate(() => { void this.stop() })
        return { stopping: true }
      }
    })
    // A mount unmounted from outside (fusermount -u) is forgotten.
    this.watch = setInterval(() => { void this.reap() }, 2000)
    this.watch.unref()
    log('listening on %s', socketPath(this.paths))
  }

  async mount (req: MountRequest): Promise<unknown> {
    const dir = resolve(req.dir)
    if (this.mounts.has(dir)) throw new UsageError('EALREADYMOUNTED', `${dir} is already mounted by this daemon`, { hint: `unmount it first: gtfs umount ${dir}` })
    const settings = { ...this.settings, ...(req.readDeadlineMs !== undefined ? { readDeadlineMs: req.readDeadlineMs } : {}) }
    const m = await openLocalMount({ target: { gitDir: req.gitDir, ref: req.ref, commit: req.commit }, dir, paths: this.paths, settings, allowOther: req.allowOther, suid: req.suid, dev: req.dev })
    this.mounts.set(m.dir, m)
    await writeRecord(this.paths.runtime, { pid: process.pid, dir: m.dir, source: m.source, commit: m.commit, ref: m.ref, started: m.started.toISOString() })
    process.stderr.write(`${new Date().toISOString()} mounted ${m.commit} of ${m.source} at ${m.dir}\n`)
    return this.describe(m)
  }

  /** gtfs's object store, opened on first use, with its quota keeper. */
  private async openStore (): Promise<{ session: Session, store: GitObjectStore, keeper: StoreKeeper, prefetcher: Prefetcher }> {
    this.storage ??= (async () => {
      const session = await Session.open(this.paths.data)
      const store = await GitObjectStore.open(join(session.home.store, 'objects'), {
        cacheBytes: this.settings.objectCacheBytes,
        largeBlobBytes: this.settings.largeBlobBytes,
        unpackedDir: join(this.paths.cache, 'unpacked'),
        unpackedBudgetBytes: this.settings.unpackedBudgetBytes,
        // objects fetched from the swarm go into packs (the daemon is the store's only pack writer)
        packWrites: true
      })
      const keeper = new StoreKeeper({ store, session, settings: this.settings, paths: this.paths, mounted: () => [...this.mounts.values()].map(m => m.commit) })
      await keeper.start()
      const prefetcher = new Prefetcher({ session, store, settings: this.settings, node: async () => (await this.startSwarm(this.lastSwarmArgs)).node })
      return { session, store, keeper, prefetcher }
    })()
    this.storage.catch(() => { this.storage = undefined })
    return await this.storage
  }

  /** The swarm node, started on first use with the bootstrap list and port of that request. */
  private async startSwarm (o: SwarmOptions): Promise<{ node: SwarmNode, session: Session, store: GitObjectStore, finder: CommandFinder }> {
    this.swarm ??= (async () => {
      const { session, store } = await this.openStore()
      const node = new SwarmNode({ paths: this.paths, settings: this.settings, session, store, bootstrap: o.bootstrap, port: o.port, host: process.env.GTFS_LISTEN_HOST === '' ? undefined : process.env.GTFS_LISTEN_HOST })
      await node.start()
      this.node = node
      process.stderr.write(`${new Date().toISOString()} swarm: dht udp ${node.dhtPort}, wire tcp ${node.wirePort}\n`)
      return { node, session, store, finder: new CommandFinder(session) }
    })()
    this.swarm.catch(() => { this.swarm = undefined })
    return await this.swarm
  }

  /**
   * Starts the swarm node with `hint`'s options and looks for its repo's
   * peers, ahead of the mount request a CLI that just started this daemon
   * is sending (cli/daemon-client.ts DaemonHint): the request then finds the
   * node started and joins the lookup under way. Never fails; a request with
   * other options finds the node as the hint started it, as a second request
   * finds it as the first did.
   */
  warm (hint: { swarm: SwarmOptions, repo: string }): void {
    void (async () => {
      const ref = await parseRepoRef(hint.repo, this.paths.data)
      const { node } = await this.startSwarm(hint.swarm)
      await node.lookAhead(ref.key, { signal: AbortSignal.timeout(this.settings.mountReadyMs) })
    })().catch((err: Error) => { log('warming up for %s: %s', hint.repo, err.message) })
  }

  async mountKey (req: KeyMountRequest): Promise<unknown> {
    const dir = resolve(req.dir)
    const ref = await parseRepoRef(req.key, this.paths.data)
    const existing = this.mounts.get(dir)
    if (existing !== undefined) {
      // The same repo on the same directory: move it to the ref asked for (an upgrade in place).
      if (!isSwarmMount(existing) || existing.repo !== ref.key) throw new UsageError('EALREADYMOUNTED', `${dir} is already mounted by this daemon`, { hint: `unmount it first: gtfs umount ${dir}` })
      if (req.suid === true && !existing.suid) throw new UsageError('EALREADYMOUNTED', `${dir} is mounted without suid; switching refs keeps the mount's options`, { hint: `unmount it first: gtfs umount ${dir}` })
      if (req.dev === true && !existing.dev) throw new UsageError('EALREADYMOUNTED', `${dir} is mounted without dev; switching refs keeps the mount's options`, { hint: `unmount it first: gtfs umount ${dir}` })
      const before = existing.commit
      await existing.switchRef(req.ref ?? ref.ref)
      await writeRecord(this.paths.runtime, { pid: process.pid, dir, source: existing.source, commit: existing.commit, ref: existing.ref, started: existing.started.toISOString() })
      return { ...this.describe(existing) as object, switched: true, from: before }
    }
    // Before the network: a directory mounted by someone else fails now, not after resolving.
    await checkMountpoint(dir)
    const { node, session, store } = await this.startSwarm(req)
    const m = await openSwarmMount({
      repo: ref.key,
      ref: req.ref ?? ref.ref,
      dir,
      pin: req.pin === true,
      allowExpired: req.allowExpired === true,
      allowOther: req.allowOther,
      suid: req.suid,
      dev: req.dev,
      settings: this.settings,
      session,
      store,
      node,
      followEveryMs: followEveryMs()
    })
    this.mounts.set(m.dir, m)
    await writeRecord(this.paths.runtime, { pid: process.pid, dir: m.dir, source: m.source, commit: m.commit, ref: m.ref, started: m.started.toISOString() })
    const t = m.timings
    process.stderr.write(`${new Date().toISOString()} mounted ${m.repo} seq ${m.seq} (${m.ref} ${m.commit}${m.offline ? ', offline' : ''}) at ${m.dir} in ${t.mountedMs} ms ` +
      `(peers' state ${t.stateMs ?? '-'}, verified ${t.verifiedMs}, trees ${t.treesMs}, view ${t.viewMs})\n`)
    return { ...this.describe(m) as object, switched: false }
  }

  /** `gtfs automount <dir>`: the namespace where repos appear on first access. */
  async automount (req: AutomountRequest): Promise<unknown> {
    const dir = resolve(req.dir)
    if (this.mounts.has(dir)) throw new UsageError('EALREADYMOUNTED', `${dir} is already mounted by this daemon`, { hint: `unmount it first: gtfs umount ${dir}` })
    const { node, session, store } = await this.startSwarm(req)
    const m = await openAutomount({ dir, allowOther: req.allowOther, settings: this.settings, session, store, node, dataDir: this.paths.data, followEveryMs: followEveryMs() })
    this.mounts.set(m.dir, m)
    await writeRecord(this.paths.runtime, { pid: process.pid, dir: m.dir, source: m.source, commit: m.commit, ref: m.ref, started: m.started.toISOString() })
    process.stderr.write(`${new Date().toISOString()} automount namespace at ${m.dir}\n`)
    return this.describe(m)
  }

  /** Which trusted repo ships the program `name`, and its path under the automount. */
  async findCommand (name: string): Promise<FoundCommand | null> {
    const auto = [...this.mounts.values()].find((m): m is Automount => (m as Partial<Automount>).kind === 'automount')
    const swarm = this.swarm === undefined ? null : await this.swarm.catch(() => null)
    if (auto === undefined || swarm === null) {
      throw new GtfsError('ENOAUTOMOUNT', 'no automount namespace is served: commands run from there', { hint: 'start one: gtfs automount /gtfs' })
    }
    return await swarm.finder.find(auto, name, AbortSignal.timeout(this.settings.mountReadyMs))
  }

  async umount (dir: string): Promise<unknown> {
    const abs = resolve(dir)
    const m = this.mounts.get(abs)
    if (m === undefined) throw new UsageError('ENOTMINE', `${dir} is not mounted by this daemon`)
    this.mounts.delete(abs)
    await m.close()
    await removeRecord(this.paths.runtime, abs, process.pid)
    process.stderr.write(`${new Date().toISOString()} unmounted ${abs}\n`)
    return { dir: abs, unmounted: true }
  }

  async status (): Promise<unknown> {
    const swarm = this.swarm === undefined ? null : await this.swarm.catch(() => null)
    return {
      pid: process.pid,
      started: this.started.toISOString(),
      socket: socketPath(this.paths),
      mounts: [...this.mounts.values()].map(m => this.describe(m)),
      swarm: swarm?.node.status() ?? null,
      memory: { ...await memoryStatus(), ...(this.pacing.growth === null ? {} : { heapGrowingPercent: this.pacing.growth }) },
      warnings: this.warnings.slice(-20)
    }
  }

  async stop (): Promise<void> {
    this.stopping ??= (async () => {
      clearInterval(this.watch)
      for (const dir of [...this.mounts.keys()]) {
        await this.umount(dir).catch((err: Error) => { log('unmount %s: %s', dir, err.message) })
      }
      await new Promise<void>(resolve => { this.server?.close(() => { resolve() }) ?? resolve() })
      this.pacing.stop()
      const swarm = await this.swarm?.catch(() => null)
      if (swarm != null) await swarm.node.stop().catch((err: Error) => { log('swarm stop: %s', err.message) })
      const storage = await this.storage?.catch(() => null)
      if (storage != null) {
        await recordingsSettled()
        await storage.keeper.stop()
        await storage.store.close()
        await storage.session.close()
      }
      this.finish()
    })()
    await this.stopping
  }

  private describe (m: ActiveMount): unknown {
    const base = { dir: m.dir, source: m.source, commit: m.commit, ref: m.ref, started: m.started.toISOString(), stats: { ...m.stats } }
    const auto = m as Partial<Automount>
    if (auto.kind === 'automount') return { ...base, automount: auto.details!() }
    if (!isSwarmMount(m)) return base
    return { ...base, repo: m.repo, seq: m.seq, offline: m.offline, pinned: m.pinned, options: { allowOther: m.allowOther, suid: m.suid, dev: m.dev }, timings: m.timings }
  }

  private async reap (): Promise<void> {
    for (const [dir, m] of this.mounts) {
      if (await isMounted(dir).catch(() => true) !== null) continue
      this.mounts.delete(dir)
      await m.close().catch(() => {})
      await removeRecord(this.paths.runtime, dir, process.pid)
      process.stderr.write(`${new Date().toISOString()} ${dir} was unmounted from outside\n`)
    }
  }
}

function isSwarmMount (m: ActiveMount): m is SwarmMount {
  return 'switchRef' in m
}

/** GTFS_FOLLOW_MS: ms between checks for a newer manifest (default 30 000; at least 100). */
function followEveryMs (): number {
  const v = process.env.GTFS_FOLLOW_MS
  if (v === undefined || v.trim() === '') return 30_000
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 100) throw new UsageError('EBADCONFIG', `GTFS_FOLLOW_MS must be a whole number of milliseconds, at least 100, not ${JSON.stringify(v)}`)
  return n
}

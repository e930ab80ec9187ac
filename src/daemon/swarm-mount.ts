/**
 * One mount of a swarm repo: resolve the key to a verified snapshot, fetch its
 * directory structure, mount a view of it, seed it, and (unless pinned) move
 * to each newer signed manifest while mounted. `openSwarmRepoView` is the same
 * without the mount: the automount namespace serves such views as its subtrees.
 */
import type { Settings } from '../config.ts'
import { mountView, preloadFuse, type Mounted } from '../fs/mount.ts'
import { UsageError } from '../errors.ts'
import { logger, warn } from '../log.ts'
import type { Session } from '../publish/session.ts'
import { CommitView } from '../repo/commit-view.ts'
import { FollowingView } from '../repo/following-view.ts'
import { fetchStructure, resolveSwarmRepo, type ResolvedRepo } from '../repo/swarm-repo.ts'
import { SwarmSource } from '../repo/swarm-source.ts'
import type { GitObjectStore } from '../store/object-store.ts'
import type { ObjectId } from '../types.ts'
import { startZlibWorker } from '../zlib-worker.ts'
import type { ActiveMount } from './local-mount.ts'
import type { SwarmNode } from './swarm-node.ts'

const log = logger('gtfs:daemon:swarm-mount')

/**
 * Following asks the DHT pointer first: while it names the manifest shown,
 * the peers are not asked for the state. A state bundle carries the catalogs
 * (a few MB for 50,000 paths), every ready peer was asked for it, and judging
 * it again cost an idle mount of the bench's wide repo 0.27 s of CPU per
 * check. Every FULL_EVERY-th check asks the peers anyway: the pointer is a
 * hint that may lag (a failed put, a new policy with a new pointer key, stale
 * DHT nodes), so a newer manifest shows within FULL_EVERY checks even then.
 */
const FULL_EVERY = 10
/** ms the pointer is looked for at a check */
const POINTER_CHECK_MS = 3000

export interface SwarmRepoViewOptions {
  repo: string
  ref?: string
  pin: boolean
  allowExpired: boolean
  settings: Settings
  session: Session
  store: GitObjectStore
  node: SwarmNode
  /** ms between checks for a newer manifest when following (default 30 s) */
  followEveryMs?: number
  /** deadline of the first resolution, ms (default settings.mountReadyMs) */
  resolveMs?: number
  /** where the view is shown, for the log line when it moves to a newer manifest */
  label: string
  /**
   * settles once the view is shown (a mount: once it is mounted); recording
   * what the peers served waits for it as well as for the view (see `ready`)
   */
  shown?: Promise<void>
}

export interface SwarmRepoView {
  /** the view, switched to each newer manifest unless pinned */
  readonly view: FollowingView
  /** the snapshot the view shows now */
  readonly current: ResolvedRepo
  /** the commit view the view shows now */
  readonly commitView: CommitView
  /** how the first view came to be: ms from the start until the peers' state was here (null: offline), it was verified, every tree was here, the view was open */
  readonly timings: MountTimings
  /**
   * Moves the view to another signed ref (an upgrade of a mounted root), by
   * the same path as following a newer manifest: only trees the store lacks
   * are fetched now, files when they are opened. Files already open keep
   * their bytes. On failure the view stays where it was.
   */
  switchRef (ref: string | undefined): Promise<void>
  /** stops following; idempotent */
  close (): void
}

export interface MountTimings {
  stateMs: number | null
  verifiedMs: number
  treesMs: number
  viewMs: number
  /** set by a mount: the mount is there */
  mountedMs?: number
}

export async function openSwarmRepoView (o: SwarmRepoViewOptions): Promise<SwarmRepoView> {
  const t0 = performance.now()
  const since = (mark: number): number => Math.round(mark - t0)
  let treesAt = 0
  startZlibWorker()
  const source = new SwarmSource(o.store, o.node.fetcherFor(o.repo))
  let wantRef = o.ref
  /** the structure walk of the claimed commit, started while the claim is judged */
  let early: { commit: ObjectId, walk: Promise<boolean> } | undefined
  const resolve = async (ms: number, recordAfter?: Promise<unknown>): Promise<ResolvedRepo> =>
    await resolveSwarmRepo({
      repo: o.repo, ref: wantRef, session: o.session, source, state: o.node, allowExpired: o.allowExpired, signal: AbortSignal.timeout(ms), recordAfter,
      onLateNote: note => { warn(`${o.repo.slice(0, 12)}: ${note}`) },
      onClaimedCommit: (commit, firstSeen) => {
        const walk = fetchStructure(source, commit, { signal: AbortSignal.timeout(ms), whole: firstSeen }).then(() => true, (err: Error) => {
          log('%s: early structure of %s: %s', o.repo, commit, err.message)
          return false
        })
        early = { commit, walk }
      }
    })
  const viewOf = async (r: ResolvedRepo, ms: number): Promise<CommitView> => {
    const signal = AbortSignal.timeout(ms)
    // The claimed commit is the verified one (most mounts): its walk, once
    // whole, is not walked again (2,500 trees re-read: 20-35 ms of a first mount).
    const walked = early?.commit === r.commit && await early.walk
    if (!walked) await fetchStructure(source, r.commit, { signal })
    treesAt = performance.now()
    const v = await CommitView.open(source, r.commit, { catalog: r.catalog })
    const traced = r.catalog?.prefetch
    if (traced !== undefined) {
      // The publisher's trace: what a typical first run opens, fetched in that order now.
      void v.fileIds(traced).then(async ids => {
        log('%s: prefetching %d traced files', o.repo, ids.length)
        await source.prefetchInOrder(ids)
      }).catch((err: Error) => { log('prefetch of the trace: %s', err.message) })
    }
    return v
  }
  const firstMs = o.resolveMs ?? o.settings.mountReadyMs
  const started = Date.now()
  // What peers served is recorded once the view is ready and shown, not while
  // its trees arrive or the mount is made: recording a 50,000-path catalog's
  // bundle is 150-200 ms of this thread, and a mount's first lookups came
  // in behind it (a first byte 13-21 ms after the mount with recording held
  // back 400 ms, 19-39 ms with it starting as the view was ready).
  let ready = (): void => {}
  const viewReady = new Promise<void>(resolve => { ready = resolve })
  const shown = o.shown === undefined ? viewReady : Promise.all([viewReady, o.shown])
  let current: ResolvedRepo
  let commitView: CommitView
  try {
    const resolving = resolve(firstMs, shown)
    // The mount needs its FUSE transport at its end (fuse-native loaded, or the
    // /dev/fuse session's worker started): made ready while its peers' state travels.
    preloadFuse()
    current = await resolving
    for (const n of current.notes) warn(`${o.repo.slice(0, 12)}: ${n}`)
    commitView = await viewOf(current, Math.max(1, firstMs - (Date.now() - started)))
  } finally {
    ready()
  }
  const view = new FollowingView(commitView)
  const timings: MountTimings = {
    stateMs: current.marks.state === null ? null : since(current.marks.state),
    verifiedMs: since(current.marks.verified),
    treesMs: since(treesAt),
    viewMs: since(performance.now())
  }
  // What we hold, we serve: as soon as it is recorded (seeding serves the records),
  // while the DHT announce (round trips to the nodes closest to the repo, each up
  // to the DHT's query timeout when a node is gone) runs beside the mount instead
  // of before it.
  void current.recorded.then(async () => await o.node.seed(o.repo)).catch((err: Error) => { warn(`seeding ${o.repo.slice(0, 12)}: ${err.message}`) })

  let checks = 0
  /** Whether the DHT pointer still names the manifest shown (false when it names another, or none was found). */
  const pointerUnchanged = async (): Promise<boolean> => {
    const p = await o.node.pointer(current.pointerKey, { signal: AbortSignal.timeout(POINTER_CHECK_MS) }).catch(() => null)
    return p !== null && p.manifestHash === current.manifestHash
  }
  /**
   * Resolves again and moves the view when the manifest, commit or ref
   * changed. A check (`full` false) first asks the pointer (see FULL_EVERY).
   */
  const moveOn = async (full: boolean): Promise<void> => {
    if (!full && ++checks % FULL_EVERY !== 0 && await pointerUnchanged()) return
    await o.node.refreshPeers(o.repo)
    const next = await resolve(o.settings.mountReadyMs)
    if (next.manifestHash === current.manifestHash && next.commit === current.commit && next.ref === current.ref) return
    commitView = await viewOf(next, o.settings.mountReadyMs)
    view.switchTo(commitView)
    log('%s: now at seq %d, %s %s', o.repo, next.manifest.seq, next.ref, next.commit)
    process.stderr.write(`${new Date().toISOString()} ${o.label}: moved to manifest seq ${next.manifest.seq} (${next.ref} ${next.commit})\n`)
    current = next
    await next.recorded
    await o.node.seed(o.repo).catch(() => {})
  }
  // One move at a time: the follow timer and an explicit switch share this chain.
  let moving: Promise<void> = Promise.resolve()
  const serialized = async (f: () => Promise<void>): Promise<void> => {
    const run = moving.then(f, f)
    moving = run.catch(() => {})
    await run
  }

  let timer: NodeJS.Timeout | undefined
  let checking = false
  if (!o.pin) {
    timer = setInterval(() => {
      if (checking) return
      checking = true
      serialized(async () => { await moveOn(false) })
        .catch((err: Error) => { warn(`following ${o.repo.slice(0, 12)}: ${err.message}`) })
        .finally(() => { checking = false })
    }, o.followEveryMs ?? 30_000)
    timer.unref()
  }
  return {
    view,
    get current () { return current },
    get commitView () { return commitView },
    timings,
    switchRef: async (ref: string | undefined) => {
      await serialized(async () => {
        const before = wantRef
        wantRef = ref
        try {
          await moveOn(true)
        } catch (err) {
          wantRef = before
          throw err
        }
      })
    },
    close: () => { clearInterval(timer) }
  }
}

export interface SwarmMountOptions extends Omit<SwarmRepoViewOptions, 'label' | 'resolveMs'> {
  dir: string
  allowOther?: boolean
  suid?: boolean
  dev?: boolean
}

export interface SwarmMount extends ActiveMount {
  readonly repo: string
  readonly seq: number
  readonly offline: boolean
  readonly pinned: boolean
  readonly suid: boolean
  readonly dev: boolean
  readonly allowOther: boolean
  /**
   * Moves the mount to another signed ref in place (SwarmRepoView.switchRef).
   * Not for a pinned mount, whose kernel caches would keep showing the old
   * tree (EPINNED).
   */
  switchRef (ref: string | undefined): Promise<void>
  /** how the mount came to be (SwarmRepoView.timings, and when it was mounted) */
  readonly timings: MountTimings
}

export async function openSwarmMount (o: SwarmMountOptions): Promise<SwarmMount> {
  const t0 = performance.now()
  let shown = (): void => {}
  const mountShown = new Promise<void>(resolve => { shown = resolve })
  let repo: SwarmRepoView
  let mounted: Mounted
  try {
    repo = await openSwarmRepoView({ ...o, label: o.dir, shown: mountShown })
    try {
      mounted = await mountView(repo.view, o.dir, {
        label: `gtfs:${o.repo.slice(0, 12)}`,
        readDeadlineMs: o.settings.readDeadlineMs,
        metaDeadlineMs: o.settings.metaDeadlineMs,
        cacheSeconds: o.pin ? o.settings.kernelCacheSeconds : 1,
        follow: !o.pin,
        allowOther: o.allowOther,
        suid: o.suid,
        dev: o.dev
      })
    } catch (err) {
      repo.close()
      throw err
    }
  } finally {
    // mounted or failed, recording may go on (it must not wait for ever)
    shown()
  }
  const timings: MountTimings = { ...repo.timings, mountedMs: Math.round(performance.now() - t0) }
  let closing: Promise<void> | undefined
  const started = new Date()
  return {
    dir: mounted.dir,
    get source () { return `gtfs://${o.repo}` },
    get commit () { return repo.current.commit },
    get ref () { return repo.current.ref },
    get seq () { return repo.current.manifest.seq },
    get offline () { return repo.current.offline },
    repo: o.repo,
    pinned: o.pin,
    suid: o.suid === true,
    dev: o.dev === true,
    allowOther: o.allowOther === true,
    switchRef: async (ref: string | undefined) => {
      if (o.pin) throw new UsageError('EPINNED', `${mounted.dir} is pinned to one manifest: it does not switch refs`, { hint: `unmount it and mount again: gtfs umount ${mounted.dir}; gtfs mount --ref ${ref ?? '<ref>'} ${o.repo} ${mounted.dir}` })
      await repo.switchRef(ref)
    },
    started,
    timings,
    stats: mounted.stats,
    close: async () => {
      closing ??= (async () => {
        repo.close()
        await mounted.unmount()
      })()
      await closing
    }
  }
}

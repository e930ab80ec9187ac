/**
 * One mount of a swarm repo: resolve the key to a verified snapshot, fetch its
 * directory structure, mount a view of it, seed it, and (unless pinned) move
 * to each newer signed manifest while mounted.
 */
import type { Settings } from '../config.ts'
import { mountView, type Mounted } from '../fs/mount.ts'
import { UsageError } from '../errors.ts'
import { logger, warn } from '../log.ts'
import type { Session } from '../publish/session.ts'
import { CommitView } from '../repo/commit-view.ts'
import { FollowingView } from '../repo/following-view.ts'
import { fetchStructure, resolveSwarmRepo, type ResolvedRepo } from '../repo/swarm-repo.ts'
import { SwarmSource } from '../repo/swarm-source.ts'
import type { GitObjectStore } from '../store/object-store.ts'
import type { ActiveMount } from './local-mount.ts'
import type { SwarmNode } from './swarm-node.ts'

const log = logger('gtfs:daemon:swarm-mount')

export interface SwarmMountOptions {
  repo: string
  ref?: string
  dir: string
  pin: boolean
  allowExpired: boolean
  allowOther?: boolean
  suid?: boolean
  dev?: boolean
  settings: Settings
  session: Session
  store: GitObjectStore
  node: SwarmNode
  /** ms between checks for a newer manifest when following (default 30 s) */
  followEveryMs?: number
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
   * Moves the mount to another signed ref (an upgrade of a mounted root):
   * only the objects of the new tree that are not in the store are fetched, as
   * they are opened. Files already open keep their bytes. Not for a pinned
   * mount, whose kernel caches would keep showing the old tree (EPINNED).
   */
  switchRef (ref: string | undefined): Promise<void>
}

export async function openSwarmMount (o: SwarmMountOptions): Promise<SwarmMount> {
  const source = new SwarmSource(o.store, o.node.fetcherFor(o.repo))
  const deadline = (): AbortSignal => AbortSignal.timeout(o.settings.mountReadyMs)
  let wantRef = o.ref
  const resolve = async (): Promise<ResolvedRepo> =>
    await resolveSwarmRepo({ repo: o.repo, ref: wantRef, session: o.session, source, state: o.node, allowExpired: o.allowExpired, signal: deadline() })
  let current = await resolve()
  for (const n of current.notes) warn(`${o.repo.slice(0, 12)}: ${n}`)
  const viewOf = async (r: ResolvedRepo): Promise<CommitView> => {
    await fetchStructure(source, r.commit, { signal: deadline() })
    return await CommitView.open(source, r.commit, { catalog: r.catalog })
  }
  const view = new FollowingView(await viewOf(current))
  const mounted: Mounted = await mountView(view, o.dir, {
    label: `gtfs:${o.repo.slice(0, 12)}`,
    readDeadlineMs: o.settings.readDeadlineMs,
    metaDeadlineMs: o.settings.metaDeadlineMs,
    cacheSeconds: o.pin ? o.settings.kernelCacheSeconds : 1,
    follow: !o.pin,
    allowOther: o.allowOther,
    suid: o.suid,
    dev: o.dev
  })
  // What we hold, we serve.
  await o.node.seed(o.repo).catch((err: Error) => { warn(`seeding ${o.repo.slice(0, 12)}: ${err.message}`) })

  /** Resolves again and moves the view when the commit or manifest changed. */
  const moveOn = async (): Promise<void> => {
    await o.node.refreshPeers(o.repo)
    const next = await resolve()
    if (next.manifestHash === current.manifestHash && next.commit === current.commit && next.ref === current.ref) return
    view.switchTo(await viewOf(next))
    log('%s: now at seq %d, %s %s', o.repo, next.manifest.seq, next.ref, next.commit)
    process.stderr.write(`${new Date().toISOString()} ${o.dir}: moved to manifest seq ${next.manifest.seq} (${next.ref} ${next.commit})\n`)
    current = next
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
      serialized(moveOn)
        .catch((err: Error) => { warn(`following ${o.repo.slice(0, 12)}: ${err.message}`) })
        .finally(() => { checking = false })
    }, o.followEveryMs ?? 30_000)
    timer.unref()
  }

  let closing: Promise<void> | undefined
  const started = new Date()
  return {
    dir: mounted.dir,
    get source () { return `gtfs://${o.repo}` },
    get commit () { return current.commit },
    get ref () { return current.ref },
    get seq () { return current.manifest.seq },
    get offline () { return current.offline },
    repo: o.repo,
    pinned: o.pin,
    suid: o.suid === true,
    dev: o.dev === true,
    allowOther: o.allowOther === true,
    switchRef: async (ref: string | undefined) => {
      if (o.pin) throw new UsageError('EPINNED', `${mounted.dir} is pinned to one manifest: it does not switch refs`, { hint: `unmount it and mount again: gtfs umount ${mounted.dir}; gtfs mount --ref ${ref ?? '<ref>'} ${o.repo} ${mounted.dir}` })
      await serialized(async () => {
        const before = wantRef
        wantRef = ref
        try {
          await moveOn()
        } catch (err) {
          wantRef = before
          throw err
        }
      })
    },
    started,
    stats: mounted.stats,
    close: async () => {
      closing ??= (async () => {
        clearInterval(timer)
        await mounted.unmount()
      })()
      await closing
    }
  }
}

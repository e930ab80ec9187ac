/**
 * One mount of a swarm repo: resolve the key to a verified snapshot, fetch its
 * directory structure, mount a view of it, seed it, and (unless pinned) move
 * to each newer signed manifest while mounted.
 */
import type { Settings } from '../config.ts'
import { mountView, type Mounted } from '../fs/mount.ts'
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
}

export async function openSwarmMount (o: SwarmMountOptions): Promise<SwarmMount> {
  const source = new SwarmSource(o.store, o.node.fetcherFor(o.repo))
  const deadline = (): AbortSignal => AbortSignal.timeout(o.settings.mountReadyMs)
  const resolve = async (): Promise<ResolvedRepo> =>
    await resolveSwarmRepo({ repo: o.repo, ref: o.ref, session: o.session, source, state: o.node, allowExpired: o.allowExpired, signal: deadline() })
  let current = await resolve()
  for (const n of current.notes) warn(`${o.repo.slice(0, 12)}: ${n}`)
  const viewOf = async (r: ResolvedRepo): Promise<CommitView> => {
    await fetchStructure(source, r.commit, { signal: deadline() })
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
  const view = new FollowingView(await viewOf(current))
  const mounted: Mounted = await mountView(view, o.dir, {
    label: `gtfs:${o.repo.slice(0, 12)}`,
    readDeadlineMs: o.settings.readDeadlineMs,
    metaDeadlineMs: o.settings.metaDeadlineMs,
    cacheSeconds: o.pin ? o.settings.kernelCacheSeconds : 1,
    follow: !o.pin,
    allowOther: o.allowOther
  })
  // What we hold, we serve.
  await o.node.seed(o.repo).catch((err: Error) => { warn(`seeding ${o.repo.slice(0, 12)}: ${err.message}`) })

  let timer: NodeJS.Timeout | undefined
  let checking = false
  if (!o.pin) {
    timer = setInterval(() => {
      if (checking) return
      checking = true
      ;(async () => {
        await o.node.refreshPeers(o.repo)
        const next = await resolve()
        if (next.manifestHash === current.manifestHash && next.commit === current.commit) return
        view.switchTo(await viewOf(next))
        log('%s: now at seq %d, commit %s', o.repo, next.manifest.seq, next.commit)
        process.stderr.write(`${new Date().toISOString()} ${o.dir}: moved to manifest seq ${next.manifest.seq} (${next.commit})\n`)
        current = next
        await o.node.seed(o.repo).catch(() => {})
      })().catch((err: Error) => { warn(`following ${o.repo.slice(0, 12)}: ${err.message}`) })
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

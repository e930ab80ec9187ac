/**
 * One mount of a local repository's commit, without any process concerns:
 * open the store and the view, mount it, and close both on unmount. Used by the
 * daemon (many mounts in one process) and by `gtfs mount -f` (one, in the foreground).
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Paths, Settings } from '../config.ts'
import { mountView, preloadFuse, type Mounted } from '../fs/mount.ts'
import type { OpsStats } from '../fs/fuse-ops.ts'
import { openLocalRepo, type LocalTarget } from '../repo/local-repo.ts'

export interface LocalMountOptions {
  target: LocalTarget
  dir: string
  paths: Paths
  settings: Settings
  allowOther?: boolean
  suid?: boolean
  dev?: boolean
  fuseDebug?: boolean
}

export interface ActiveMount {
  readonly dir: string
  readonly source: string
  readonly commit: string
  readonly ref: string | null
  readonly started: Date
  readonly stats: OpsStats
  /** unmounts (lazily when busy) and closes the store; idempotent */
  close (): Promise<void>
}

export async function openLocalMount (o: LocalMountOptions): Promise<ActiveMount> {
  preloadFuse() // the transport gets ready while the repository opens
  const unpackedDir = join(o.paths.cache, 'unpacked')
  await mkdir(unpackedDir, { recursive: true })
  const repo = await openLocalRepo(o.target, {
    cacheBytes: o.settings.objectCacheBytes,
    largeBlobBytes: o.settings.largeBlobBytes,
    unpackedDir,
    unpackedBudgetBytes: o.settings.unpackedBudgetBytes
  })
  let mounted: Mounted
  try {
    mounted = await mountView(repo.view, o.dir, {
      label: `gtfs:${repo.commit.slice(0, 12)}`,
      readDeadlineMs: o.settings.readDeadlineMs,
      metaDeadlineMs: o.settings.metaDeadlineMs,
      cacheSeconds: o.settings.kernelCacheSeconds,
      allowOther: o.allowOther,
      suid: o.suid,
      dev: o.dev,
      debug: o.fuseDebug
    })
  } catch (err) {
    await repo.store.close()
    throw err
  }
  let closing: Promise<void> | undefined
  return {
    dir: mounted.dir,
    source: repo.gitDir,
    commit: repo.commit,
    ref: repo.ref,
    started: new Date(),
    stats: mounted.stats,
    close: async () => {
      closing ??= (async () => {
        try {
          await mounted.unmount()
        } finally {
          await repo.store.close()
        }
      })()
      await closing
    }
  }
}

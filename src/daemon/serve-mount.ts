/**
 * Serving one mount in this process until it is told to stop: SIGINT/SIGTERM
 * unmount cleanly; an unmount from outside (fusermount -u) ends the process too.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Paths, Settings } from '../config.ts'
import { mountView, type Mounted } from '../fs/mount.ts'
import { isMounted } from '../fs/preflight.ts'
import { logger } from '../log.ts'
import { openLocalRepo, type LocalTarget } from '../repo/local-repo.ts'
import { removeRecord, writeRecord } from './mount-registry.ts'

const log = logger('gtfs:daemon:serve-mount')

export interface ServeOptions {
  target: LocalTarget
  dir: string
  paths: Paths
  settings: Settings
  allowOther?: boolean
  fuseDebug?: boolean
  logFile?: string
}

export interface Serving {
  mounted: Mounted
  commit: string
  ref: string | null
  /** settles when the mount has ended and everything is closed */
  done: Promise<void>
  stop (): Promise<void>
}

export async function serveMount (o: ServeOptions): Promise<Serving> {
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
      debug: o.fuseDebug
    })
  } catch (err) {
    await repo.store.close()
    throw err
  }
  await writeRecord(o.paths.runtime, {
    pid: process.pid,
    dir: mounted.dir,
    source: repo.gitDir,
    commit: repo.commit,
    ref: repo.ref,
    started: new Date().toISOString(),
    log: o.logFile
  })

  let finish!: () => void
  const done = new Promise<void>(resolve => { finish = resolve })
  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(watch)
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      try {
        if (await isMounted(mounted.dir) !== null) await mounted.unmount()
      } catch (err) {
        log('unmount failed: %s', (err as Error).message)
      }
      await repo.store.close()
      await removeRecord(o.paths.runtime, mounted.dir, process.pid)
      finish()
    })()
    await stopping
  }
  const onSignal = (): void => { void stop() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // Someone ran `fusermount -u` on us: nothing left to serve.
  const watch = setInterval(() => {
    isMounted(mounted.dir).then(m => { if (m === null) void stop() }, () => {})
  }, 2000)
  return { mounted, commit: repo.commit, ref: repo.ref, done, stop }
}

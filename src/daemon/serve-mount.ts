/**
 * `gtfs mount -f`: one mount served by this process until it is told to stop.
 * SIGINT/SIGTERM unmount cleanly; an unmount from outside (fusermount -u) ends
 * the process too.
 */
import { isMounted } from '../fs/preflight.ts'
import { logger } from '../log.ts'
import { openLocalMount, type ActiveMount, type LocalMountOptions } from './local-mount.ts'
import { removeRecord, writeRecord } from './mount-registry.ts'

const log = logger('gtfs:daemon:serve-mount')

export interface Serving {
  mount: ActiveMount
  /** settles when the mount has ended and everything is closed */
  done: Promise<void>
  stop (): Promise<void>
}

export async function serveMount (o: LocalMountOptions & { logFile?: string }): Promise<Serving> {
  const mount = await openLocalMount(o)
  await writeRecord(o.paths.runtime, {
    pid: process.pid,
    dir: mount.dir,
    source: mount.source,
    commit: mount.commit,
    ref: mount.ref,
    started: mount.started.toISOString(),
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
      await mount.close().catch((err: Error) => { log('unmount failed: %s', err.message) })
      await removeRecord(o.paths.runtime, mount.dir, process.pid)
      finish()
    })()
    await stopping
  }
  const onSignal = (): void => { void stop() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // Someone ran `fusermount -u` on us: nothing left to serve.
  const watch = setInterval(() => {
    isMounted(mount.dir).then(m => { if (m === null) void stop() }, () => {})
  }, 2000)
  return { mount, done, stop }
}

/**
 * gtfs daemon: run the daemon in the foreground (systemd, or by hand). `gtfs
 * mount` starts one in the background when none runs.
 */
import type { Argv, CommandModule } from 'yargs'
import { loadSettings, paths } from '../../config.ts'
import { GtfsError } from '../../errors.ts'
import { reportToParent } from '../../daemon/background.ts'
import { socketPath } from '../../daemon/control-protocol.ts'

export const daemonCommand: CommandModule<object, object> = {
  command: 'daemon',
  describe: 'run the gtfs daemon in the foreground (gtfs mount starts it when needed)',
  builder: (y: Argv) => y
    .example('gtfs daemon', 'serve mounts from this terminal; Ctrl-C unmounts them all and stops')
    .example('GTFS_HOME=/srv/gtfs gtfs daemon', 'a separate daemon with all its state under /srv/gtfs'),
  handler: async () => { await runDaemon() }
}

/**
 * Runs the daemon until it is stopped (a signal, or `gtfs stop`). Started in
 * the background (GTFS_BACKGROUND=1), it tells the waiting parent that it is
 * ready or why it could not start.
 */
export async function runDaemon (): Promise<void> {
  const { Daemon } = await import('../../daemon/daemon.ts')
  const daemon = new Daemon(paths(), loadSettings())
  const child = process.env.GTFS_BACKGROUND === '1'
  try {
    await daemon.start()
  } catch (err) {
    if (child) {
      const e = err instanceof GtfsError ? err : new GtfsError('EDAEMON', (err as Error).message)
      reportToParent({ gtfs: 'error', code: e.code, message: e.message, hint: e.hint })
    }
    throw err
  }
  const onSignal = (): void => { void daemon.stop() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  process.on('SIGHUP', () => {})
  process.stderr.write(`${new Date().toISOString()} gtfs daemon ${process.pid} listening on ${socketPath(paths())}\n`)
  if (child) reportToParent({ gtfs: 'ready', pid: process.pid })
  await daemon.stopped
  process.stderr.write(`${new Date().toISOString()} gtfs daemon stopped\n`)
}

/**
 * gtfs daemon: run the daemon in the foreground (systemd, or by hand). `gtfs
 * mount` starts one in the background when none runs.
 */
import type { Argv, CommandModule } from 'yargs'
import { loadSettings, paths } from '../../config.ts'
import { GtfsError } from '../../errors.ts'
import { reportToParent } from '../../daemon/background.ts'
import { socketPath } from '../../daemon/control-protocol.ts'
import { DAEMON_HINT_ENV, type DaemonHint } from '../daemon-client.ts'

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
  // Started for a mount by key: begin on it while its request is on the way (cli/daemon-client.ts).
  const hint = readHint(process.env[DAEMON_HINT_ENV])
  delete process.env[DAEMON_HINT_ENV]
  if (hint !== null) daemon.warm(hint)
  await daemon.stopped
  process.stderr.write(`${new Date().toISOString()} gtfs daemon stopped\n`)
}

/** The hint a mount by key passed at spawn, or null (none, or not one: it is only a hint). */
export function readHint (text: string | undefined): DaemonHint | null {
  if (text === undefined || text === '') return null
  try {
    const h = JSON.parse(text) as { swarm?: { bootstrap?: unknown, port?: unknown }, repo?: unknown }
    const s = h.swarm
    if (typeof h.repo !== 'string' || h.repo === '' || s === null || typeof s !== 'object') return null
    if (s.bootstrap !== undefined && typeof s.bootstrap !== 'string') return null
    if (s.port !== undefined && !Number.isInteger(s.port)) return null
    return { repo: h.repo, swarm: { bootstrap: s.bootstrap, port: s.port as number | undefined } }
  } catch {
    return null
  }
}

/**
 * gtfs stop: unmount everything the daemon serves and stop it.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { paths } from '../../config.ts'
import { TimeoutError, UsageError } from '../../errors.ts'
import { isNoDaemon } from '../../daemon/control-client.ts'
import { isAlive } from '../../daemon/mount-registry.ts'
import { askDaemon } from '../daemon-client.ts'
import { printJson } from '../output.ts'

/** ms the daemon's process is given to exit once asked */
const STOP_WAIT_MS = 30_000

export const stopCommand: CommandModule<object, { json?: boolean }> = {
  command: 'stop',
  describe: 'unmount everything the daemon serves and stop it',
  builder: (y: Argv) => y
    .example('gtfs stop', 'stop the daemon of this user (or of GTFS_HOME)') as unknown as Argv<{ json?: boolean }>,
  handler: async (argv: ArgumentsCamelCase<{ json?: boolean }>) => {
    const p = paths()
    let pid: number
    try {
      pid = (await askDaemon<{ pid: number }>(p, 'ping', {}, 5_000)).pid
      await askDaemon(p, 'stop', {}, 5_000)
    } catch (err) {
      if (isNoDaemon(err)) throw new UsageError('ENODAEMON', 'the gtfs daemon is not running')
      throw err
    }
    const until = Date.now() + STOP_WAIT_MS
    while (isAlive(pid) && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 50))
    if (isAlive(pid)) {
      throw new TimeoutError(`the gtfs daemon (pid ${pid}) unmounted and stopped its work, but its process has not exited after ${STOP_WAIT_MS / 1000} s`,
        { hint: `end it with: kill ${pid}; and report it (gtfs status --json showed what it held)` })
    }
    if (argv.json) printJson({ stopped: true, pid })
    else process.stdout.write(`stopped the gtfs daemon (pid ${pid})\n`)
  }
}

/**
 * gtfs stop: unmount everything the daemon serves and stop it.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { paths } from '../../config.ts'
import { UsageError } from '../../errors.ts'
import { isNoDaemon } from '../../daemon/control-client.ts'
import { isAlive } from '../../daemon/mount-registry.ts'
import { askDaemon } from '../daemon-client.ts'
import { printJson } from '../output.ts'

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
    const until = Date.now() + 30_000
    while (isAlive(pid) && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 50))
    if (argv.json) printJson({ stopped: !isAlive(pid), pid })
    else process.stdout.write(`stopped the gtfs daemon (pid ${pid})\n`)
  }
}

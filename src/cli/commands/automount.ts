/**
 * gtfs automount: serve the automount namespace on an empty directory, where
 * `<dir>/<repo key or alias>/` appears on first access.
 */
import { resolve } from 'node:path'
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { loadSettings, paths } from '../../config.ts'
import { assertFuseUsable, checkMountpoint } from '../../fs/preflight.ts'
import { askDaemon, ensureDaemon } from '../daemon-client.ts'
import { printJson } from '../output.ts'
import { SWARM_OPTIONS, swarmPort } from '../swarm-options.ts'

interface AutomountArgs { dir: string, 'allow-other'?: boolean, bootstrap?: string, port?: number, json?: boolean }

export const automountCommand: CommandModule<object, AutomountArgs> = {
  command: 'automount <dir>',
  describe: 'serve a directory where <dir>/<repo key or alias>/ appears on first access',
  builder: (y: Argv) => y
    .positional('dir', { type: 'string', describe: 'the empty directory to serve the namespace on', demandOption: true })
    .option('allow-other', { type: 'boolean', describe: 'let other users read it (needs user_allow_other in /etc/fuse.conf unless root)' })
    .options(SWARM_OPTIONS)
    .example('gtfs automount /gtfs', 'then: ls /gtfs/3f9a…e1/, or ls /gtfs/debian after gtfs alias add debian 3f9a…e1')
    .example('PATH=/gtfs/debian/usr/bin:$PATH hello', 'run a program of a repo; its bytes are fetched when it is executed')
    .example('gtfs umount /gtfs', 'stop serving it') as unknown as Argv<AutomountArgs>,
  handler: async (argv: ArgumentsCamelCase<AutomountArgs>) => {
    const p = paths()
    const settings = loadSettings()
    const dir = resolve(argv.dir)
    await assertFuseUsable()
    await checkMountpoint(dir)
    const pid = await ensureDaemon(p, settings)
    const m = await askDaemon<{ dir: string }>(p, 'automount', {
      dir,
      allowOther: argv.allowOther === true,
      bootstrap: argv.bootstrap,
      port: swarmPort(argv)
    }, settings.mountReadyMs + 5_000)
    if (argv.json) printJson({ ...m, pid })
    else process.stdout.write(`serving the automount namespace at ${m.dir}: ${m.dir}/<repo key or alias>/ appears when used (daemon pid ${pid}; gtfs umount ${m.dir} to stop)\n`)
  }
}

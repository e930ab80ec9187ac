/**
 * gtfs find-command: which trusted repo ships a program, and where it runs
 * from in the automount namespace. The shell hook (gtfs shell-hook) calls it
 * for every command the shell does not find.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { loadSettings, paths } from '../../config.ts'
import { isNoDaemon } from '../../daemon/control-client.ts'
import type { FoundCommand } from '../../daemon/find-command.ts'
import { GtfsError, NotFoundError, UsageError } from '../../errors.ts'
import { askDaemon } from '../daemon-client.ts'
import { printJson } from '../output.ts'

interface FindArgs { command?: string, name?: string, quiet?: boolean, json?: boolean }

export const findCommandCommand: CommandModule<object, FindArgs> = {
  command: 'find-command [command]',
  describe: 'find a program in the trusted repos; print where it runs from in the automount namespace',
  builder: (y: Argv) => y
    .positional('command', { type: 'string', describe: 'the command name, as typed' })
    .option('name', { type: 'string', describe: 'the command name (any text, even one that starts with "-"; the shell hook uses this)' })
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'do not say on stderr which repo and signers it comes from' })
    .example('gtfs find-command hello', '/gtfs/debian/usr/bin/hello (and, on stderr, the repo and who signed it)')
    .example('eval "$(gtfs shell-hook bash)"', 'let bash run such commands when it does not find them') as unknown as Argv<FindArgs>,
  handler: async (argv: ArgumentsCamelCase<FindArgs>) => {
    if ((argv.command === undefined) === (argv.name === undefined)) throw new UsageError('EUSAGE', 'name one command: gtfs find-command <command>, or --name=<command>')
    const name = String(argv.command ?? argv.name)
    const p = paths()
    let found: FoundCommand | null
    try {
      found = await askDaemon<FoundCommand | null>(p, 'find-command', { name }, loadSettings().mountReadyMs + 5_000)
    } catch (err) {
      if (isNoDaemon(err)) throw new GtfsError('ENOAUTOMOUNT', 'the gtfs daemon is not running, so no automount namespace is served', { hint: 'start one: gtfs automount /gtfs' })
      throw err
    }
    if (found === null) throw new NotFoundError(`${name}: not found in the trusted repos on this machine`, { code: 'ENOCOMMAND', hint: '`gtfs trust show` lists them' })
    if (argv.json) { printJson(found); return }
    process.stdout.write(found.path + '\n')
    if (argv.quiet !== true) {
      const who = found.signers.length === 0
        ? 'no signature checked (expired manifest allowed)'
        : found.signers.map(s => s.userIds.length > 0 ? `${s.userIds[0]} (${s.fingerprint})` : s.fingerprint).join(', ')
      process.stderr.write(`gtfs: ${found.name} from ${found.as === found.repo ? found.repo : `${found.as} (${found.repo})`}, ${found.ref} seq ${found.seq}, signed by ${who}\n`)
    }
  }
}

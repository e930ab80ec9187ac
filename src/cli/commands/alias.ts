/**
 * gtfs alias add | remove | list: local names for repo keys, usable wherever a
 * key is (gtfs mount, the automount namespace: /gtfs/<alias>).
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { paths } from '../../config.ts'
import { NotFoundError, UsageError } from '../../errors.ts'
import { checkAliasName, loadAliases, saveAliases } from '../../repo/aliases.ts'
import { parseRepoRef } from '../../repo/repo-ref.ts'
import { printJson } from '../output.ts'

interface AddArgs { name: string, repo: string, force?: boolean, json?: boolean }
const add: CommandModule<object, AddArgs> = {
  command: 'add <name> <repo>',
  describe: 'name a repo key',
  builder: (y: Argv) => y
    .positional('name', { type: 'string', describe: 'the alias', demandOption: true })
    .positional('repo', { type: 'string', describe: 'a repo key or a gtfs://<key> URL', demandOption: true })
    .option('force', { type: 'boolean', describe: 'replace an alias that names another repo' })
    .example('gtfs alias add debian 3f9a…e1', 'then: gtfs mount debian /mnt/debian, or ls /gtfs/debian') as unknown as Argv<AddArgs>,
  handler: async (argv: ArgumentsCamelCase<AddArgs>) => {
    const data = paths().data
    const name = checkAliasName(argv.name)
    if (!/^([0-9a-f]{64}|gtfs:\/\/[0-9a-f]{64}\/?)$/i.test(argv.repo)) {
      throw new UsageError('EBADKEY', `${JSON.stringify(argv.repo)} is not a repo key or a gtfs://<key> URL`, { hint: 'an alias names a repo, not a ref: gtfs mount --ref chooses the ref' })
    }
    const key = (await parseRepoRef(argv.repo.replace(/\/$/, ''), data)).key
    const aliases = await loadAliases(data)
    const old = aliases.get(name)
    if (old !== undefined && old !== key && argv.force !== true) {
      throw new UsageError('EALIASEXISTS', `alias ${name} already names ${old}`, { hint: `replace it with --force, or remove it first: gtfs alias remove ${name}` })
    }
    aliases.set(name, key)
    await saveAliases(data, aliases)
    if (argv.json) printJson({ name, repo: key })
    else process.stdout.write(`${name} → ${key}\n`)
  }
}

interface RemoveArgs { name: string, json?: boolean }
const remove: CommandModule<object, RemoveArgs> = {
  command: 'remove <name>',
  aliases: ['rm'],
  describe: 'forget an alias',
  builder: (y: Argv) => y
    .positional('name', { type: 'string', describe: 'the alias', demandOption: true })
    .example('gtfs alias remove debian', 'forget the alias debian') as unknown as Argv<RemoveArgs>,
  handler: async (argv: ArgumentsCamelCase<RemoveArgs>) => {
    const data = paths().data
    const aliases = await loadAliases(data)
    const key = aliases.get(argv.name)
    if (key === undefined) throw new NotFoundError(`no alias ${argv.name}`, { code: 'ENOALIAS', hint: 'gtfs alias list shows them' })
    aliases.delete(argv.name)
    await saveAliases(data, aliases)
    if (argv.json) printJson({ name: argv.name, repo: key, removed: true })
    else process.stdout.write(`removed ${argv.name} (was ${key})\n`)
  }
}

const list: CommandModule<object, { json?: boolean }> = {
  command: 'list',
  aliases: ['ls'],
  describe: 'show every alias',
  builder: (y: Argv) => y.example('gtfs alias list --json', 'the aliases as a JSON object') as unknown as Argv<{ json?: boolean }>,
  handler: async (argv: ArgumentsCamelCase<{ json?: boolean }>) => {
    const aliases = await loadAliases(paths().data)
    if (argv.json) { printJson(Object.fromEntries(aliases)); return }
    if (aliases.size === 0) process.stdout.write('no aliases\n')
    for (const [name, key] of aliases) process.stdout.write(`${name}\t${key}\n`)
  }
}

export const aliasCommand: CommandModule = {
  command: 'alias <command>',
  describe: 'local names for repo keys (gtfs mount <alias>, /gtfs/<alias>)',
  builder: (y: Argv) => y.command(add).command(remove).command(list).demandCommand(1, 'name an alias command: add, remove or list')
    .example('gtfs alias add debian 3f9a…e1', 'name a repo'),
  handler: () => {}
}

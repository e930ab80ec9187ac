/**
 * gtfs publish: the next signed manifest of a repo from its git repository,
 * with a catalog for every published commit; with --trace, the order in which
 * a command opens files, for readers to prefetch.
 */
import { realpath } from 'node:fs/promises'
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { loadSettings, paths } from '../../config.ts'
import { UsageError } from '../../errors.ts'
import { parseDuration } from '../../publish/durations.ts'
import { isNoDaemon } from '../../daemon/control-client.ts'
import { askDaemon } from '../daemon-client.ts'
import { progressLines } from '../describe.ts'
import { printJson } from '../output.ts'
import { passphraseSource } from '../passphrase.ts'

interface PublishArgs {
  'git-dir': string
  repo?: string
  ref?: string[]
  'default-ref'?: string
  expires: string
  rootfs?: string
  'passphrase-file'?: string
  trace?: boolean
  'trace-timeout': string
  json?: boolean
}

export const publishCommand: CommandModule<object, PublishArgs> = {
  command: 'publish <git-dir>',
  describe: 'sign the next manifest: refs → commits and their catalogs',
  builder: (y: Argv) => y
    .positional('git-dir', { type: 'string', describe: 'the git repository (given to gtfs init)', demandOption: true })
    .option('repo', { type: 'string', describe: 'repo key, when several repos publish from this git repository' })
    .option('ref', { type: 'string', array: true, describe: 'ref to publish (repeat; default: the branch HEAD is on); refs published before stay' })
    .option('default-ref', { type: 'string', describe: 'the ref a mount shows by default' })
    .option('expires', { type: 'string', default: '30d', describe: 'how long readers accept the manifest: 3600s, 12h, 30d, 2w' })
    .option('rootfs', { type: 'string', describe: 'commit this directory to --ref first, and capture owners, modes, devices, hard links, xattrs, empty dirs' })
    .option('passphrase-file', { type: 'string', describe: 'passphrase for protected secret keys (else asked on the terminal)' })
    .option('trace', { type: 'boolean', describe: 'run the command after -- in a mount of the commit and store the files it opens, in order, with the catalog; readers fetch them right after mounting' })
    .option('trace-timeout', { type: 'string', default: '10m', describe: 'how long the traced command may run' })
    .example('gtfs publish ~/src/distro --ref main --ref v1.0 --expires 7d', 'publish two refs for a week')
    .example('sudo gtfs publish /srv/os.git --rootfs /srv/rootfs --ref refs/heads/amd64', 'publish a root filesystem')
    .example('gtfs publish ~/src/app --trace -- ./bin/app --version', 'publish, and record which files starting the app reads') as unknown as Argv<PublishArgs>,
  handler: async (argv: ArgumentsCamelCase<PublishArgs>) => {
    const { findGitDir } = await import('../../store/git-dir.ts')
    const { checkRepoKey, withSession } = await import('../../publish/session.ts')
    const { findRepoByGitDir } = await import('../../publish/records.ts')
    const { publish } = await import('../../publish/publish.ts')
    const gitDir = await realpath(await findGitDir(argv.gitDir))
    const ttlSeconds = parseDuration(argv.expires, '--expires')
    const command = argv._.slice(1).map(String)
    if (argv.trace === true && command.length === 0) throw new UsageError('EUSAGE', '--trace needs the command to trace after --', { hint: 'gtfs publish <git-dir> --trace -- <command> [args…]' })
    if (argv.trace !== true && command.length > 0) throw new UsageError('EUSAGE', `unexpected arguments: ${command.join(' ')}`, { hint: 'a command after -- is traced only with --trace' })
    const traceMs = parseDuration(argv.traceTimeout, '--trace-timeout') * 1000
    const trace = argv.trace === true
      ? async (commit: string) => {
        const { traceOpens } = await import('../../daemon/trace.ts')
        return await traceOpens({ gitDir, commit, command, paths: paths(), settings: loadSettings(), timeoutMs: traceMs })
      }
      : undefined
    const r = await withSession(paths().data, async s => {
      let repo = argv.repo === undefined ? undefined : checkRepoKey(argv.repo)
      if (repo === undefined) {
        const found = await findRepoByGitDir(s.home, gitDir)
        if (found.length !== 1) {
          throw new UsageError('ENOREPO', found.length === 0 ? `no repo publishes from ${gitDir}` : `${found.length} repos publish from ${gitDir}`,
            { hint: found.length === 0 ? `make one: gtfs init ${argv.gitDir} --signer <fingerprint>` : `choose one with --repo: ${found.join(', ')}` })
        }
        repo = found[0]
      }
      return await publish(s, {
        repo, gitDir, refs: argv.ref ?? [], ttlSeconds, passphrase: passphraseSource(argv.passphraseFile),
        ...(argv.defaultRef === undefined ? {} : { defaultRef: argv.defaultRef }),
        ...(argv.rootfs === undefined ? {} : { rootfs: argv.rootfs }),
        ...(trace === undefined ? {} : { trace })
      })
    })
    // A running daemon serves the new manifest and puts the new pointer at once.
    let seeding = false
    if (r.complete) {
      seeding = await askDaemon(paths(), 'seed', { keys: [r.repo] }, 60_000).then(() => true, (err: unknown) => {
        if (!isNoDaemon(err)) process.stderr.write(`gtfs: warning: the daemon could not seed it: ${(err as Error).message}\n`)
        return false
      })
    }
    if (argv.json) { printJson({ ...r, seeding }); return }
    if (r.rootfsCommit !== undefined) {
      process.stdout.write(`${r.rootfsCommit.changed ? 'committed' : 'unchanged:'} ${argv.rootfs} as ${r.rootfsCommit.commit.slice(0, 12)} on ${r.rootfsCommit.ref}\n`)
    }
    if (r.traced !== undefined) process.stdout.write(`traced: ${r.traced} file${r.traced === 1 ? '' : 's'} opened, in order, stored with the catalog for readers to prefetch\n`)
    process.stdout.write(`manifest seq ${r.seq} of ${r.repo}: ${r.complete ? 'signed' : 'pending'}${r.replacedPending ? ' (replaced an earlier pending manifest)' : ''}\n`)
    for (const [ref, e] of Object.entries(r.manifest.refs)) process.stdout.write(`  ${ref} ${e.commit}${ref === r.manifest.defaultRef ? ' (default)' : ''}\n`)
    process.stdout.write(progressLines(r.progress).join('\n') + '\n')
    if (r.complete) process.stdout.write(seeding ? '  the gtfs daemon serves it, and has put the new DHT pointer\n' : `  serve it to the swarm: gtfs seed ${r.repo}\n`)
    if (!r.complete) process.stdout.write(`  collect the missing signatures: gtfs manifest export ${r.repo} -o seq${r.seq}.gtfs; there: gtfs manifest import seq${r.seq}.gtfs && gtfs sign ${r.repo}\n`)
  }
}

/**
 * The gtfs command line: yargs with every command registered explicitly, one
 * module each. Commands are thin: parse, call, print.
 *
 * A command module statically imports only light modules (config, errors,
 * output, the daemon client, preflight checks) and loads its implementation
 * (daemon, publish, trust and OpenPGP, store, swarm, FUSE) with `await
 * import()` in its handler, so the CLI starts fast. Measured compiled:
 * `gtfs --version` 250 -> 140 ms, `gtfs mount --help` 280 -> 170 ms (bare
 * node 50 ms, node + yargs 110 ms). test/unit/cli-startup.test.ts holds it.
 */
import { readFileSync } from 'node:fs'
import yargs from 'yargs'
import { GtfsError, UsageError } from '../errors.ts'
import { aliasCommand } from './commands/alias.ts'
import { automountCommand } from './commands/automount.ts'
import { cacheCommand } from './commands/cache.ts'
import { chrootCommand } from './commands/chroot.ts'
import { daemonCommand } from './commands/daemon.ts'
import { dhtNodeCommand } from './commands/dht-node.ts'
import { doctorCommand } from './commands/doctor.ts'
import { findCommandCommand } from './commands/find-command.ts'
import { initCommand } from './commands/init.ts'
import { keyCommand } from './commands/key.ts'
import { manifestCommand } from './commands/manifest.ts'
import { mountCommand } from './commands/mount.ts'
import { policyCommand } from './commands/policy.ts'
import { publishCommand } from './commands/publish.ts'
import { seedCommand } from './commands/seed.ts'
import { shellHookCommand } from './commands/shell-hook.ts'
import { signCommand } from './commands/sign.ts'
import { statusCommand } from './commands/status.ts'
import { stopCommand } from './commands/stop.ts'
import { trustCommand } from './commands/trust.ts'
import { umountCommand } from './commands/umount.ts'
import { verifyCommand } from './commands/verify.ts'
import { EXIT, printError } from './output.ts'

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

export async function main (argv: string[]): Promise<number> {
  const debug = argv.includes('--debug') || process.env.GTFS_DEBUG === '1'
  const json = argv.includes('--json')
  let exit: number = EXIT.ok
  // Middleware runs after yargs validated the arguments: any error before it is a usage error.
  let validated = false
  const cli = yargs(argv)
    .scriptName('gtfs')
    .usage('gtfs — mount signed, swarm-backed git repositories\n\nUsage: gtfs <command> [options]')
    .command(mountCommand)
    .command(umountCommand)
    .command(chrootCommand)
    .command(automountCommand)
    .command(aliasCommand)
    .command(findCommandCommand)
    .command(shellHookCommand)
    .command(seedCommand)
    .command(statusCommand)
    .command(cacheCommand)
    .command(stopCommand)
    .command(daemonCommand)
    .command(doctorCommand)
    .command(dhtNodeCommand)
    .command(keyCommand)
    .command(initCommand)
    .command(policyCommand)
    .command(publishCommand)
    .command(manifestCommand)
    .command(signCommand)
    .command(verifyCommand)
    .command(trustCommand)
    .option('debug', { type: 'boolean', describe: 'show stacks and error codes (DEBUG=gtfs:* turns on logs)', global: true })
    .option('json', { type: 'boolean', describe: 'print data as JSON', global: true })
    .demandCommand(1, 'name a command: gtfs --help lists them')
    .strictCommands()
    .strictOptions()
    .version(VERSION)
    .alias('h', 'help')
    .alias('V', 'version')
    .epilogue('Each command has a man page: man gtfs-<command>. Set GTFS_HOME to keep all state in one directory.')
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .fail(false)
    .middleware(() => { validated = true })
  try {
    await cli.parseAsync()
    // Handlers that finish with a non-zero status (doctor finding a problem) set process.exitCode.
    if (typeof process.exitCode === 'number') exit = process.exitCode
  } catch (err) {
    if (!validated && !(err instanceof GtfsError)) {
      exit = printError(new UsageError('EUSAGE', (err as Error).message, { hint: 'see gtfs --help' }), debug, json)
    } else {
      exit = printError(err, debug, json)
    }
  }
  return exit
}

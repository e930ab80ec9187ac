/**
 * bin/gtfs-daemon.cjs: the daemon `gtfs mount` starts in the background, run
 * without the CLI's modules. `gtfs daemon` loads yargs and every command
 * before the daemon's own; measured, that was about a quarter of the time a
 * daemon took to answer (330 ms from spawn to ready), and every mount that
 * starts a daemon waits for it. Errors print as the CLI prints them.
 */
import { runDaemon } from './commands/daemon.ts'
import { printError } from './output.ts'

/**
 * Loads (evaluates) the daemon's modules, openpgp among them, without
 * starting anything: the build runs it before it writes the bundle's code
 * cache (scripts/bundle.mjs), so that their code is compiled in the cache too.
 */
export async function preloadDaemon (): Promise<void> {
  await import('../daemon/daemon.ts')
  // a first mount loads it while its peers' state travels (trust/openpgp.ts)
  await (await import('../trust/openpgp.ts')).pgp()
  ;(await import('./daemon-warm.ts')).warmDecoders()
}

export async function daemonMain (argv: string[]): Promise<number> {
  const debug = argv.includes('--debug') || process.env.GTFS_DEBUG === '1'
  try {
    await runDaemon()
    return 0
  } catch (err) {
    return printError(err, debug)
  }
}

/**
 * gtfs umount: unmount a gtfs mount, asking its process to stop cleanly first;
 * also cleans up a stale mount left by a process that was killed.
 */
import { resolve } from 'node:path'
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { paths } from '../../config.ts'
import { isAlive, isDaemonProcess, isServing, readRecord, removeRecord } from '../../daemon/mount-registry.ts'
import { isGtfsError, UsageError } from '../../errors.ts'
import { isNoDaemon } from '../../daemon/control-client.ts'
import { askDaemon } from '../daemon-client.ts'
import { isMounted } from '../../fs/preflight.ts'
import { unmountDir } from '../../fs/unmount.ts'
import { printJson } from '../output.ts'

interface UmountArgs { dir: string, json?: boolean, timeout?: number }

async function waitFor (cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms
  while (Date.now() < until) {
    if (await cond()) return true
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return await cond()
}

export const umountCommand: CommandModule<object, UmountArgs> = {
  command: 'umount <dir>',
  aliases: ['unmount'],
  describe: 'unmount a gtfs mount (also a stale one left by a killed process)',
  builder: (y: Argv) => y
    .positional('dir', { type: 'string', describe: 'the mountpoint', demandOption: true })
    .option('timeout', { type: 'number', describe: 'milliseconds to wait for the serving process to stop', default: 10_000 })
    .check(a => {
      if (!Number.isSafeInteger(a.timeout) || (a.timeout as number) <= 0) throw new Error('--timeout takes a positive number of milliseconds')
      return true
    })
    .example('gtfs umount /mnt/linux', 'stop serving /mnt/linux and unmount it') as unknown as Argv<UmountArgs>,
  handler: async (argv: ArgumentsCamelCase<UmountArgs>) => {
    const dir = resolve(argv.dir)
    const p = paths()
    const runtime = p.runtime
    // The daemon unmounts what it serves.
    try {
      await askDaemon(p, 'umount', { dir }, argv.timeout)
      if (argv.json) printJson({ dir, unmounted: true, stale: false, how: 'daemon' })
      else process.stdout.write(`unmounted ${dir}\n`)
      return
    } catch (err) {
      if (!isNoDaemon(err) && !isGtfsError(err, 'ENOTMINE')) throw err
    }
    const mounted = await isMounted(dir)
    const rec = await readRecord(runtime, dir)
    // Only a `gtfs mount -f` process is asked to stop by signal: never the daemon,
    // which serves other mounts and has just said this one is not its own.
    const live = rec !== null && isServing(rec) && !isDaemonProcess(rec.pid) ? rec : null
    if (mounted === null && live === null) {
      await removeRecord(runtime, dir)
      throw new UsageError('ENOTMOUNTED', `${argv.dir} is not mounted`)
    }
    if (mounted !== null && !mounted.fstype.startsWith('fuse.gtfs') && !(mounted.fstype === 'fuse' && live !== null)) {
      throw new UsageError('ENOTGTFS', `${argv.dir} is a ${mounted.fstype} mount, not a gtfs one`, { hint: 'use umount(8) for it' })
    }
    let how: 'clean' | 'lazy' | 'stopped' = 'stopped'
    if (live !== null) {
      process.kill(live.pid, 'SIGTERM')
      await waitFor(async () => !isAlive(live.pid), argv.timeout ?? 10_000)
    }
    if (await isMounted(dir) !== null) how = await unmountDir(dir)
    await removeRecord(runtime, dir)
    const stale = live === null
    if (argv.json) printJson({ dir, unmounted: true, stale, how })
    else process.stdout.write(`unmounted ${dir}${stale ? ' (stale mount: its process was gone)' : ''}\n`)
  }
}

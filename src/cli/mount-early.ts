/**
 * `gtfs mount <key> <dir>` with no daemon running: the daemon takes about
 * 0.25 s to start and the CLI about 0.1 s to load yargs and its commands, one
 * after the other. bin/gtfs calls this before loading the CLI, so that the
 * two run side by side. Only the plain form (with flags that cannot fail it,
 * as --json, --ref, --pin), and only when the checks the command makes again
 * (FUSE usable, an empty directory that is not mounted) pass here: a mount
 * that is going to fail leaves no daemon behind that it would not have left
 * before. Never throws; the command reports what it finds.
 */
import { resolve } from 'node:path'
import { loadSettings, paths } from '../config.ts'
import { assertFuseUsable, checkMountpoint } from '../fs/preflight.ts'
import { startDaemonEarly } from './daemon-client.ts'

/** flags that cannot fail the command's own checks */
const SWITCHES = new Set(['--json', '--pin', '--allow-expired', '--allow-other'])
const VALUED = new Set(['--ref', '--bootstrap', '--port'])

/** The mount directory of `mount <key> <dir>` with only such flags, or null. */
export function plainMountDir (argv: string[]): string | null {
  if (argv[0] !== 'mount') return null
  const positional: string[] = []
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]
    const [flag, inline] = a.split('=', 2)
    if (SWITCHES.has(a)) continue
    if (VALUED.has(flag)) {
      const value = inline ?? argv[++i]
      if (value === undefined || (flag === '--port' && !/^[0-9]{1,5}$/.test(value))) return null
      continue
    }
    if (a.startsWith('-')) return null
    positional.push(a)
  }
  return positional.length === 2 ? positional[1] : null
}

export async function startDaemonForMount (argv: string[]): Promise<void> {
  const dir = plainMountDir(argv)
  if (dir === null) return
  try {
    await assertFuseUsable()
    await checkMountpoint(resolve(dir))
    await startDaemonEarly(paths(), loadSettings())
  } catch {}
}

/**
 * mount(8)'s calling convention for `mount -t fuse.gtfs <key> <dir> -o <opts>`
 * and fstab lines: mount(8) runs `/sbin/mount.fuse.gtfs <key> <dir> [-sfnv]
 * [-o <opts>]`. The options become `gtfs mount` flags; options that are only
 * for mount(8), systemd or fstab (noauto, _netdev, nofail, x-systemd.*, ...)
 * are dropped. A gtfs mount is always read-only; `rw` is ignored too, since
 * mount(8) passes it whenever the command line or fstab says neither ro nor rw.
 */
import { UsageError } from '../errors.ts'

/** Options that mount(8), systemd or the fstab reader act on: nothing for gtfs. */
const IGNORED = new Set(['defaults', 'ro', 'rw', 'auto', 'noauto', '_netdev', 'nofail', 'user', 'users', 'nouser', 'owner', 'group', 'nosuid', 'nodev', 'exec', 'relatime', 'noatime'])

export interface HelperCall {
  /** `gtfs` arguments, `mount` first */
  args: string[]
  /** GTFS_HOME from `home=`, if given */
  home?: string
  /** -f: check everything, mount nothing */
  fake: boolean
}

export function translateMountCall (argv: string[]): HelperCall {
  const positionals: string[] = []
  const opts: string[] = []
  let sloppy = false
  let fake = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '-o') {
      if (i + 1 >= argv.length) throw new UsageError('EUSAGE', '-o needs a list of options')
      opts.push(...argv[++i].split(',').filter(Boolean))
    } else if (a.startsWith('-o') && a.length > 2) {
      opts.push(...a.slice(2).split(',').filter(Boolean))
    } else if (/^-[sfnv]+$/.test(a)) {
      if (a.includes('s')) sloppy = true
      if (a.includes('f')) fake = true
    } else if (a.startsWith('-')) {
      throw new UsageError('EUSAGE', `mount.fuse.gtfs: unknown flag ${a}`, { hint: 'mount.fuse.gtfs <key> <dir> [-sfnv] [-o options]' })
    } else {
      positionals.push(a)
    }
  }
  if (positionals.length !== 2) throw new UsageError('EUSAGE', 'mount.fuse.gtfs takes a repo key and a directory', { hint: 'mount -t fuse.gtfs <key> <dir> -o ref=<ref>,allow_other' })
  const args = ['mount', positionals[0], positionals[1]]
  let home: string | undefined
  for (const o of opts) {
    const eq = o.indexOf('=')
    const name = eq < 0 ? o : o.slice(0, eq)
    const value = eq < 0 ? undefined : o.slice(eq + 1)
    if (IGNORED.has(name) || name.startsWith('x-') || name === 'comment') continue
    switch (name) {
      case 'allow_other': args.push('--allow-other'); break
      case 'suid': args.push('--suid'); break
      case 'dev': args.push('--dev'); break
      case 'pin': args.push('--pin'); break
      case 'allow_expired': args.push('--allow-expired'); break
      case 'ref':
      case 'bootstrap':
      case 'port':
        if (value === undefined || value === '') throw new UsageError('EUSAGE', `mount option ${name} needs a value: ${name}=...`)
        args.push(`--${name}`, value)
        break
      case 'home':
        if (value === undefined || value === '') throw new UsageError('EUSAGE', 'mount option home needs a directory: home=/var/lib/gtfs')
        home = value
        break
      default:
        if (!sloppy) throw new UsageError('EUSAGE', `unknown mount option ${JSON.stringify(o)}`, { hint: 'see man gtfs-mount: MOUNT HELPER' })
    }
  }
  return { args, home, fake }
}

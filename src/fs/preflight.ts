/**
 * Checks before a mount, each failing with one clear line and a hint: FUSE is
 * usable on this machine, and the mountpoint is an empty directory that is not
 * mounted already (or left stale by a killed process).
 */
import { access, readdir, readFile, realpath, stat } from 'node:fs/promises'
import { constants } from 'node:fs'
import { delimiter, join, resolve } from 'node:path'
import { EnvironmentError, UsageError } from '../errors.ts'

export interface Check { name: string, ok: boolean, detail: string, fix?: string }

async function onPath (cmd: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    const p = join(dir, cmd)
    if (await access(p, constants.X_OK).then(() => true, () => false)) return p
  }
  return null
}

/** The FUSE prerequisites, for `gtfs doctor` and before every mount. */
export async function fuseChecks (): Promise<Check[]> {
  const checks: Check[] = []
  const dev = await access('/dev/fuse', constants.R_OK | constants.W_OK).then(() => null, (e: NodeJS.ErrnoException) => e.code ?? 'error')
  checks.push(dev === null
    ? { name: '/dev/fuse', ok: true, detail: 'present and writable' }
    : {
        name: '/dev/fuse',
        ok: false,
        detail: dev === 'ENOENT' ? 'missing' : `not usable (${dev})`,
        fix: dev === 'ENOENT' ? 'load the module: `modprobe fuse`; in a container, pass --device /dev/fuse' : 'run as a user allowed to open /dev/fuse (group fuse) or as root'
      })
  // libfuse 2 (which fuse-native links) mounts and unmounts through `fusermount`, not fusermount3.
  const fusermount = await onPath('fusermount')
  checks.push(fusermount !== null
    ? { name: 'fusermount', ok: true, detail: fusermount }
    : { name: 'fusermount', ok: false, detail: 'not found on PATH', fix: 'install it: `apt-get install fuse`' })
  let libfuse: string | null = null
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib64', '/lib64', '/usr/lib', '/lib']) {
    if (await access(join(dir, 'libfuse.so.2')).then(() => true, () => false)) { libfuse = join(dir, 'libfuse.so.2'); break }
  }
  checks.push(libfuse !== null
    ? { name: 'libfuse2', ok: true, detail: libfuse }
    : { name: 'libfuse2', ok: false, detail: 'libfuse.so.2 not found', fix: 'install it: `apt-get install libfuse2`' })
  const modules = await readFile('/proc/filesystems', 'utf8').catch(() => '')
  checks.push(/\bfuse\b/.test(modules)
    ? { name: 'kernel', ok: true, detail: 'fuse filesystem registered' }
    : { name: 'kernel', ok: false, detail: 'fuse is not in /proc/filesystems', fix: '`modprobe fuse` (as root)' })
  return checks
}

export async function assertFuseUsable (): Promise<void> {
  for (const c of await fuseChecks()) {
    if (!c.ok) throw new EnvironmentError('ENOFUSE', `FUSE is not usable: ${c.name} ${c.detail}`, { hint: `${c.fix ?? ''}; \`gtfs doctor\` checks everything`.replace(/^; /, '') })
  }
}

/** Mount points from /proc/self/mountinfo, unescaped, with their filesystem type and device (major:minor). */
export async function mountTable (): Promise<Array<{ dir: string, fstype: string, source: string, dev: string }>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8')
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)))
  return text.split('\n').filter(Boolean).map(line => {
    const f = line.split(' ')
    const sep = f.indexOf('-')
    return { dir: unescape(f[4]), fstype: f[sep + 1], source: unescape(f[sep + 2] ?? ''), dev: f[2] }
  })
}

export async function isMounted (dir: string): Promise<{ fstype: string, source: string } | null> {
  const abs = resolve(dir)
  const real = await realpath(abs).catch(() => abs)
  const hit = (await mountTable()).reverse().find(m => m.dir === real || m.dir === abs)
  return hit ?? null
}

/** An existing, empty directory that nothing is mounted on. Returns its absolute path. */
export async function checkMountpoint (dir: string): Promise<string> {
  const abs = resolve(dir)
  let st
  try {
    st = await stat(abs)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOTCONN' || code === 'ECONNABORTED') {
      throw new UsageError('ESTALEMOUNT', `${dir} is a stale mount left by a process that died`, { hint: `clean it up with \`gtfs umount ${dir}\`` })
    }
    if (code === 'ENOENT') throw new UsageError('ENOMOUNTPOINT', `mountpoint ${dir} does not exist`, { hint: `create it first: mkdir -p ${dir}` })
    throw new UsageError('ENOMOUNTPOINT', `mountpoint ${dir} is not usable (${code})`)
  }
  if (!st.isDirectory()) throw new UsageError('ENOMOUNTPOINT', `mountpoint ${dir} is not a directory`, { hint: 'mount on an empty directory' })
  const mounted = await isMounted(abs)
  if (mounted !== null && mounted.fstype.startsWith('fuse')) {
    // The kernel may still answer stat from its attribute cache; readdir reaches the process.
    const dead = await readdir(abs).then(() => false, (e: NodeJS.ErrnoException) => e.code === 'ENOTCONN' || e.code === 'ECONNABORTED')
    if (dead) throw new UsageError('ESTALEMOUNT', `${dir} is a stale mount left by a process that died`, { hint: `clean it up with \`gtfs umount ${dir}\`` })
  }
  if (mounted !== null) {
    throw new UsageError('EALREADYMOUNTED', `${dir} is already a mountpoint (${mounted.fstype} from ${mounted.source})`,
      { hint: mounted.fstype.startsWith('fuse.gtfs') ? `unmount it first: gtfs umount ${dir}` : 'choose another directory' })
  }
  if ((await readdir(abs)).length > 0) throw new UsageError('ENOTEMPTY', `mountpoint ${dir} is not empty`, { hint: 'mount on an empty directory' })
  return abs
}

/** --suid and --dev only as root: fails with ENOTROOT otherwise. */
export function checkPrivilegedOptions (opts: { suid?: boolean, dev?: boolean }): void {
  const asked = [opts.suid === true ? 'suid' : '', opts.dev === true ? 'dev' : ''].filter(Boolean)
  if (asked.length === 0 || process.getuid?.() === 0) return
  throw new UsageError('ENOTROOT', `${asked.join(' and ')} ${asked.length > 1 ? 'need' : 'needs'} root: setuid bits and device nodes from a mount give root to whoever signed it`,
    { hint: 'run it as root (sudo), or mount without --suid/--dev' })
}

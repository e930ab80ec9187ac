/**
 * Mounting for dev-fuse.ts: an open /dev/fuse handed to mount(8) as its fd 3
 * (the kernel ties the connection to that open file, which the session holds),
 * and the fusectl name of a mounted connection, for aborting one that a lazy
 * unmount left busy.
 */
import { spawn } from 'node:child_process'
import { mountTable } from './preflight.ts'

/** What mount(8) is told besides the source. */
export interface MountFlags {
  /** the mount's source in /proc/mounts; no commas or spaces */
  label: string
  allowOther: boolean
  suid: boolean
  dev: boolean
}

/** The mount(8) options: the kernel's fuse options, then the VFS flags. */
function mountOptions (o: MountFlags): string {
  return [
    'fd=3', 'rootmode=40000', `user_id=${process.getuid?.() ?? 0}`, `group_id=${process.getgid?.() ?? 0}`,
    'ro', o.suid ? 'suid' : 'nosuid', o.dev ? 'dev' : 'nodev',
    ...(o.allowOther ? ['allow_other', 'default_permissions'] : [])
  ].join(',')
}

export async function runMount (fd: number, dir: string, o: MountFlags): Promise<void> {
  const child = spawn('mount', ['-i', '-t', 'fuse.gtfs', '-o', mountOptions(o), '--source', o.label, '--target', dir], { stdio: ['ignore', 'ignore', 'pipe', fd] })
  let err = ''
  child.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 10_000)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', resolve)
  }).finally(() => { clearTimeout(timer) })
  if (code !== 0) throw new Error(err.trim() === '' ? `mount exited with ${String(code)}` : err.trim())
}

/** The fusectl connection id (the mount's device minor) of the fuse mount at `dir`. */
export async function connectionOf (dir: string): Promise<string | undefined> {
  const mounts = await mountTable().catch(() => [])
  return mounts.reverse().find(m => m.dir === dir && m.fstype.startsWith('fuse'))?.dev.split(':')[1]
}

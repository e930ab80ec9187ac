/**
 * Which process serves which mount: one JSON file per mountpoint under the
 * runtime directory, written atomically. `gtfs umount` uses it to ask the
 * serving process to unmount cleanly; a file whose process is gone is stale.
 */
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

export interface MountRecord {
  pid: number
  dir: string
  source: string
  commit: string
  ref: string | null
  started: string
  log?: string
}

function fileFor (runtimeDir: string, dir: string): string {
  return join(runtimeDir, 'mounts', createHash('sha256').update(dir).digest('hex').slice(0, 24) + '.json')
}

/** True while `pid` runs; a zombie (killed, not yet reaped) counts as gone. */
export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..."; comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true
  }
}

/**
 * True when `rec.pid` still runs the gtfs process that wrote the record: a pid
 * the kernel reused for another program must never be signalled.
 */
export function isServing (rec: MountRecord): boolean {
  if (!isAlive(rec.pid)) return false
  try {
    const argv = readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8').split('\0')
    return argv.some(a => a.endsWith('/gtfs') || a.endsWith('gtfs.js') || a.endsWith('/gtfs-daemon.cjs')) && (argv.includes('mount') || argv.includes('daemon'))
  } catch {
    return false
  }
}

/** True when `pid` runs `gtfs daemon`. */
export function isDaemonProcess (pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes('daemon')
  } catch {
    return false
  }
}

export async function writeRecord (runtimeDir: string, rec: MountRecord): Promise<void> {
  const file = fileFor(runtimeDir, rec.dir)
  await mkdir(join(runtimeDir, 'mounts'), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, JSON.stringify(rec) + '\n', { mode: 0o600 })
  await rename(tmp, file)
}

export async function readRecord (runtimeDir: string, dir: string): Promise<MountRecord | null> {
  try {
    return JSON.parse(await readFile(fileFor(runtimeDir, dir), 'utf8')) as MountRecord
  } catch {
    return null
  }
}

export async function removeRecord (runtimeDir: string, dir: string, pid?: number): Promise<void> {
  const rec = await readRecord(runtimeDir, dir)
  if (rec !== null && pid !== undefined && rec.pid !== pid) return
  await unlink(fileFor(runtimeDir, dir)).catch(() => {})
}

export async function listRecords (runtimeDir: string): Promise<MountRecord[]> {
  const dir = join(runtimeDir, 'mounts')
  const names = await readdir(dir).catch(() => [] as string[])
  const out: MountRecord[] = []
  for (const n of names.filter(n => n.endsWith('.json'))) {
    try { out.push(JSON.parse(await readFile(join(dir, n), 'utf8')) as MountRecord) } catch {}
  }
  return out
}

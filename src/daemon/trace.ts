/**
 * `gtfs publish --trace -- <cmd>`: which files a command opens, in order.
 *
 * The commit about to be published is mounted in this process (a local view of
 * the publisher's git repository, in a fresh directory), the command runs with
 * its working directory at the mount (GTFS_TRACE_DIR names it too, for
 * absolute paths), and every successful FUSE open is recorded, first opens
 * only. The command is spawned, never run synchronously: this process serves
 * the mount it reads. It has `timeoutMs` to finish (then SIGTERM, ETIMEOUT);
 * a non-zero exit is ETRACE. The mount is gone before this returns.
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rmdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Paths, Settings } from '../config.ts'
import { GtfsError, TimeoutError } from '../errors.ts'
import { mountView } from '../fs/mount.ts'
import { openLocalRepo } from '../repo/local-repo.ts'
import type { AbortOptions, FileHandle, TreeView } from '../types.ts'

export interface TraceOptions {
  gitDir: string
  commit: string
  /** the command and its arguments */
  command: string[]
  paths: Paths
  settings: Settings
  /** ms the command may run (default 10 minutes) */
  timeoutMs?: number
}

/** A TreeView that notes the path of every open that succeeded, once, in order. */
export class RecordingView implements TreeView {
  readonly opened: string[] = []
  private readonly seen = new Set<string>()
  constructor (private readonly view: TreeView) {}
  async stat (path: string, opts?: AbortOptions): ReturnType<TreeView['stat']> { return await this.view.stat(path, opts) }
  async readdir (path: string, opts?: AbortOptions): ReturnType<TreeView['readdir']> { return await this.view.readdir(path, opts) }
  async readlink (path: string, opts?: AbortOptions): Promise<string> { return await this.view.readlink(path, opts) }
  async listxattr (path: string, opts?: AbortOptions): Promise<string[]> { return await this.view.listxattr(path, opts) }
  async getxattr (path: string, name: string, opts?: AbortOptions): Promise<Buffer> { return await this.view.getxattr(path, name, opts) }
  async open (path: string, opts?: AbortOptions): Promise<FileHandle> {
    const h = await this.view.open(path, opts)
    if (!this.seen.has(path)) { this.seen.add(path); this.opened.push(path) }
    return h
  }
}

export async function traceOpens (o: TraceOptions): Promise<string[]> {
  if (o.command.length === 0) throw new GtfsError('EUSAGE', '--trace needs a command after --')
  const repo = await openLocalRepo({ gitDir: o.gitDir, commit: o.commit }, { cacheBytes: o.settings.objectCacheBytes })
  let dir: string | null = null
  try {
    dir = await mkdtemp(join(tmpdir(), 'gtfs-trace-'))
    const view = new RecordingView(repo.view)
    const mounted = await mountView(view, dir, {
      label: `gtfs-trace:${o.commit.slice(0, 12)}`,
      readDeadlineMs: o.settings.readDeadlineMs,
      metaDeadlineMs: o.settings.metaDeadlineMs,
      cacheSeconds: o.settings.kernelCacheSeconds
    })
    try {
      await run(o.command, dir, o.timeoutMs ?? 10 * 60_000)
    } finally {
      await mounted.unmount()
    }
    return view.opened
  } finally {
    await repo.store.close()
    if (dir !== null) await rmdir(dir).catch(() => {})
  }
}

async function run (command: string[], cwd: string, timeoutMs: number): Promise<void> {
  const child = spawn(command[0], command.slice(1), { cwd, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, GTFS_TRACE_DIR: cwd } })
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGTERM')
      reject(new TimeoutError(`the traced command ran longer than ${timeoutMs} ms`))
    }, timeoutMs)
    child.once('error', err => {
      clearTimeout(timer)
      reject(new GtfsError('ETRACE', `cannot run ${command[0]}: ${err.message}`))
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve()
      else reject(new GtfsError('ETRACE', `the traced command ${command[0]} exited with ${code ?? signal}`, { hint: 'the trace is kept only when the command succeeds' }))
    })
  })
}

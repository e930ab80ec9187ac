/**
 * FUSE operations over a TreeView: a thin adapter. It turns callbacks into
 * promises, applies deadlines, keeps the table of open files (or, where reads
 * go by path, path-handles.ts's table), and maps errors through errno.ts. It
 * knows nothing of where the bytes come from.
 */
import type { FuseOps, FuseStat } from 'fuse-native'
import { constants } from 'node:fs'
import { release as osRelease } from 'node:os'
import { logger } from '../log.ts'
import type { EntryAttr, FileHandle, TreeView } from '../types.ts'
import { withDeadline } from './deadline.ts'
import { ERRNO, toErrno } from './errno.ts'
import { PathHandles, type PathHandle } from './path-handles.ts'

const log = logger('gtfs:fs:fuse-ops')

export interface OpsOptions {
  /** deadline for open and read, ms */
  readDeadlineMs: number
  /** deadline for lookup, getattr, readdir, readlink, ms */
  metaDeadlineMs: number
  /**
   * Files are opened and released through FUSE, each open its own handle: for
   * a view whose paths may change content while a file is open (a following
   * view). Otherwise reads go by path (path-handles.ts) and libfuse answers
   * open and release itself.
   */
  perOpen?: boolean
  /**
   * Where reads go by path (not perOpen): answer the first FUSE open with ENOSYS, after
   * which the kernel opens and closes this mount's files without a message to
   * the daemon (its `no_open`: FOPEN_KEEP_CACHE, no RELEASE either). Without
   * it libfuse answers each open itself, but every open and close of a file
   * still crossed to the daemon's libfuse thread and back: on this 2-core VM,
   * 50,000 `cat`s of files already in the page cache took 6.3 s that way and
   * 1.7 s without (trivial fuse-native filesystem, same hour). Needs a kernel
   * that knows ENOSYS there (kernelOpensAlone).
   */
  zeroMessageOpens?: boolean
}

/**
 * Whether the running kernel takes ENOSYS from a FUSE open as "open files
 * without asking" (FUSE_NO_OPEN_SUPPORT, Linux 4.5); an older one would fail
 * the open. Asked for 5.0 and later, with margin (node 20 itself needs 4.18).
 */
export function kernelOpensAlone (release: string = osRelease()): boolean {
  return kernelAtLeast(5, 0, release)
}

/** Whether the kernel `release` (uname -r) is `major.minor` or later. */
export function kernelAtLeast (major: number, minor: number, release: string = osRelease()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release)
  if (m === null) return false
  const [have, haveMinor] = [Number(m[1]), Number(m[2])]
  return have > major || (have === major && haveMinor >= minor)
}

/**
 * fuse-native's operations and gtfs's own, for dev-fuse.ts (fuse-native
 * ignores them): `plainFile(fd)`, the local file an open file's content can be
 * read from by the kernel itself (FUSE passthrough), if it has one now;
 * `heldContent(fd)`, an open file's whole content when it is held in memory,
 * and `contentStored(fd, bytes)` once it is in the page cache (at open).
 */
export type GtfsFuseOps = FuseOps & {
  plainFile?: (fd: number) => string | undefined
  heldContent?: (fd: number) => Buffer | undefined
  contentStored?: (fd: number, bytes: number) => void
}

export interface OpsStats {
  openFiles: number
  /** READs answered, and their bytes */
  reads: number
  bytesRead: number
  /** files whose whole content went to the kernel's page cache at open (heldContent), and their bytes: read there without a READ */
  stored: number
  storedBytes: number
  /** operations answered with EIO: failures, not misses such as ENOENT */
  errors: number
}

function toFuseStat (a: EntryAttr): FuseStat {
  return {
    mode: a.mode,
    uid: a.uid,
    gid: a.gid,
    size: a.size,
    nlink: a.nlink,
    ino: a.ino,
    rdev: a.rdev,
    blksize: 4096,
    blocks: Math.ceil(a.size / 512),
    atime: a.mtime,
    mtime: a.mtime,
    ctime: a.mtime
  }
}

const WRITE_FLAGS = constants.O_WRONLY | constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_APPEND

export function makeFuseOps (view: TreeView, opts: OpsOptions): { ops: GtfsFuseOps, stats: OpsStats, closeAll: () => Promise<void> } {
  const files = new Map<number, FileHandle>()
  let nextFd = 1
  const stats: OpsStats = { openFiles: 0, reads: 0, bytesRead: 0, stored: 0, storedBytes: 0, errors: 0 }

  /** Runs one metadata op under its deadline and answers the callback exactly once. */
  function meta<T> (op: string, path: string, cb: (err: number, value?: T) => void, fn: (signal: AbortSignal) => Promise<T>): void {
    withDeadline(opts.metaDeadlineMs, `${op} ${path}`, fn).then(
      value => { cb(0, value) },
      err => { cb(fail(err, op, path)) }
    )
  }

  /** A new open file: its fd. */
  function keep (handle: FileHandle): number {
    const fd = nextFd++
    files.set(fd, handle)
    stats.openFiles = files.size
    return fd
  }

  const paths = opts.perOpen === true ? null : new PathHandles((path, err) => { log('closing %s: %s', path, err.message) })

  /** One read by path: the path's kept handle, or one opened now (see path-handles.ts). */
  function readByPath (handles: PathHandles, path: string, buf: Buffer, len: number, pos: number, cb: (n: number) => void): void {
    const k = handles.acquireNow(path, () => view.openNow?.(path))
    if (k !== undefined) { readWith(handles, k, buf, len, pos, cb); return }
    handles.acquire(path, async () => await withDeadline(opts.readDeadlineMs, `open ${path}`, async signal => await view.open(path, { signal }))).then(
      k => { readWith(handles, k, buf, len, pos, cb) },
      err => { cb(fail(err, 'open', path)) }
    )
  }

  function readWith (handles: PathHandles, k: PathHandle, buf: Buffer, len: number, pos: number, cb: (n: number) => void): void {
    stats.openFiles = handles.size
    readHandle(k.handle, k.path, buf, len, pos, n => {
      handles.release(k, pos + n)
      stats.openFiles = handles.size
      cb(n)
    }, err => { handles.release(k, 0); stats.openFiles = handles.size; cb(fail(err, 'read', k.path)) })
  }

  /** One read of `h`: at once when it answers from memory (readNow), else under the read deadline; counted when it succeeds. */
  function readHandle (h: FileHandle, path: string, buf: Buffer, len: number, pos: number, done: (n: number) => void, failed: (err: unknown) => void): void {
    const counted = (n: number): void => { stats.reads++; stats.bytesRead += n; done(n) }
    if (h.readNow !== undefined) { counted(h.readNow(buf, len, pos)); return }
    withDeadline(opts.readDeadlineMs, `read ${path}@${pos}`, async signal => await h.read(buf, len, pos, { signal })).then(counted, failed)
  }

  function fail (err: unknown, op: string, path: string): number {
    const errno = toErrno(err, op, path)
    if (errno === -ERRNO.EIO) stats.errors++
    return errno
  }

  const ops: GtfsFuseOps = {
    init (cb) { cb(0) },

    statfs (_path, cb) {
      cb(0, { bsize: 4096, frsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0, favail: 0, fsid: 0, flag: 1 /* ST_RDONLY */, namemax: 255 })
    },

    getattr (path, cb) {
      const known = view.statNow?.(path)
      if (known !== undefined) { cb(0, toFuseStat(known)); return }
      meta('getattr', path, cb, async signal => toFuseStat(await view.stat(path, { signal })))
    },

    readdir (path, cb) {
      meta('readdir', path, cb, async signal => ['.', '..', ...await view.readdir(path, { signal })])
    },

    readlink (path, cb) {
      meta('readlink', path, cb, async signal => await view.readlink(path, { signal }))
    },

    listxattr (path, cb) {
      meta('listxattr', path, cb, async signal => await view.listxattr(path, { signal }))
    },

    getxattr (path, name, _position, cb) {
      meta('getxattr', path, cb, async signal => await view.getxattr(path, name, { signal }))
    },

    open (path, flags, cb) {
      if ((flags & WRITE_FLAGS) !== 0) { cb(-ERRNO.EROFS); return }
      const now = view.openNow?.(path)
      if (now !== undefined) { cb(0, keep(now)); return }
      withDeadline(opts.readDeadlineMs, `open ${path}`, async signal => await view.open(path, { signal })).then(
        handle => { cb(0, keep(handle)) },
        err => { cb(fail(err, 'open', path)) }
      )
    },

    read (path, fd, buf, len, pos, cb) {
      if (paths !== null) { readByPath(paths, path, buf, len, pos, cb); return }
      const handle = files.get(fd)
      if (handle === undefined) { cb(-ERRNO.EBADF); return }
      readHandle(handle, path, buf, len, pos, cb, err => { cb(fail(err, 'read', path)) })
    },

    release (path, fd, cb) {
      const handle = files.get(fd)
      files.delete(fd)
      stats.openFiles = files.size
      if (handle === undefined) { cb(0); return }
      handle.close().then(() => { cb(0) }, err => { log('release %s: %s', path, (err as Error).message); cb(0) })
    },

    plainFile (fd) {
      return files.get(fd)?.plainPath?.()
    },

    heldContent (fd) {
      return files.get(fd)?.heldContent?.()
    },

    contentStored (_fd, bytes) {
      stats.stored++
      stats.storedBytes += bytes
    }
  }

  if (paths !== null) {
    // Reads go by path (path-handles.ts), so an open needs nothing of us: the
    // kernel is told so (zeroMessageOpens), or libfuse answers it itself. A
    // read-only mount has the kernel refuse writes.
    if (opts.zeroMessageOpens === true) ops.open = (_path, _flags, cb) => { cb(-ERRNO.ENOSYS) }
    else delete ops.open
    delete ops.release
    delete ops.plainFile
    delete ops.heldContent
    delete ops.contentStored
  }

  async function closeAll (): Promise<void> {
    const all = [...files.values()]
    files.clear()
    await Promise.allSettled([...all.map(async h => { await h.close() }), paths?.closeAll()])
  }

  return { ops, stats, closeAll }
}


/**
 * Reads by path, with no FUSE open or release: the kernel opens files
 * without asking (fuse-ops.ts zeroMessageOpens; on an old kernel libfuse
 * answers each open itself), so a file read once costs the daemon two round
 * trips (lookup, read) instead of four (lookup, open, read, release). Measured on
 * the bench's small-read (50,000 files of 1-16 KiB, one `cat` after another,
 * local git dir): 12.1 s with open and release, 10.0 s without.
 *
 * The handle a read needs is opened at that read; one the read took to the
 * end of the file is closed at once (a small file is read whole by one read).
 * One with bytes left is kept for the next reads of that path, at most
 * MAX_KEPT of them holding at most MAX_KEPT_BYTES in memory, and closed after
 * IDLE_MS without a read (the kernel's page cache answers re-reads). A handle
 * a read still uses is closed when that read ends.
 *
 * Only for a view whose paths keep their content while mounted: a following
 * view (a file open across a switch keeps its old bytes) needs per-open
 * handles, and keeps FUSE open and release.
 */
import type { FileHandle } from '../types.ts'

const MAX_KEPT = 64
const MAX_KEPT_BYTES = 64 * 1024 * 1024
const IDLE_MS = 2000
/**
 * An open that failed fails the path's reads for this long without trying
 * again. The kernel asks for a page again after a read failed (and readahead
 * asks beside it): each would wait out the read deadline anew, and a missing
 * file took `readFile` twice the deadline to fail where a failed FUSE open
 * took once.
 */
const FAILED_MS = 2000
const MAX_FAILED = 1024

/** A path's handle while reads use it or it is kept for the next ones. */
export interface PathHandle {
  readonly path: string
  readonly handle: FileHandle
  /** reads under way with it */
  users: number
  /** bytes it holds in memory (a handle with readNow holds its content) */
  readonly bytes: number
  usedAt: number
  /** a read reached the end of the file: closed once no read uses it */
  finished: boolean
}

export class PathHandles {
  /** by path, least recently used first */
  private readonly kept = new Map<string, PathHandle>()
  private readonly opening = new Map<string, { waiters: number, promise: Promise<PathHandle> }>()
  private failed = new Map<string, { err: unknown, at: number }>()
  private bytes = 0
  private sweep: NodeJS.Timeout | null = null

  constructor (private readonly onCloseError: (path: string, err: Error) => void) {}

  /** handles kept or in use */
  get size (): number { return this.kept.size }

  /** The path's handle for one read, at once: the kept one, or `openNow`'s; undefined when neither has one. */
  acquireNow (path: string, openNow: () => FileHandle | undefined): PathHandle | undefined {
    let k = this.kept.get(path)
    if (k !== undefined) {
      this.kept.delete(path)
      this.kept.set(path, k) // most recently used last
    } else {
      const h = openNow()
      if (h === undefined) return undefined
      k = this.adopt(path, h)
    }
    k.users++
    k.usedAt = Date.now()
    return k
  }

  /** The path's handle for one read, from `open`: one open per path at a time, shared by the reads that wait for it. */
  async acquire (path: string, open: () => Promise<FileHandle>): Promise<PathHandle> {
    let o = this.opening.get(path)
    if (o === undefined) {
      const f = this.failed.get(path)
      if (f !== undefined) {
        if (Date.now() - f.at < FAILED_MS) throw f.err
        this.failed.delete(path)
      }
      const entry = { waiters: 0, promise: null as unknown as Promise<PathHandle> }
      entry.promise = open().then(h => {
        this.opening.delete(path)
        const k = this.adopt(path, h)
        // counted now, before any of them can finish the file and close it
        k.users += entry.waiters
        k.usedAt = Date.now()
        return k
      }, (err: unknown) => {
        this.opening.delete(path)
        if (this.failed.size >= MAX_FAILED) this.failed = new Map()
        this.failed.set(path, { err, at: Date.now() })
        throw err
      })
      this.opening.set(path, entry)
      o = entry
    }
    o.waiters++
    return await o.promise
  }

  /** A read with `k` ended at byte `end` (its last byte + 1; 0 when it failed). */
  release (k: PathHandle, end: number): void {
    k.users--
    k.usedAt = Date.now()
    if (end >= k.handle.size) k.finished = true
    if (k.users > 0) return
    if (k.finished || this.kept.get(k.path) !== k) this.remove(k)
  }

  /** Closes every handle (unmount). */
  async closeAll (): Promise<void> {
    if (this.sweep !== null) { clearInterval(this.sweep); this.sweep = null }
    const all = [...this.kept.values()]
    this.kept.clear()
    this.bytes = 0
    await Promise.allSettled(all.map(async k => { await k.handle.close() }))
  }

  private adopt (path: string, handle: FileHandle): PathHandle {
    const existing = this.kept.get(path)
    if (existing !== undefined) {
      // opened twice at once (a read from memory while an open waited): keep one
      this.close(path, handle)
      return existing
    }
    const k: PathHandle = { path, handle, users: 0, bytes: handle.readNow !== undefined ? handle.size : 0, usedAt: Date.now(), finished: false }
    this.kept.set(path, k)
    this.bytes += k.bytes
    this.trim(k)
    // one sweep until closeAll: a small file is adopted and removed within its one
    // read, and a timer made and cleared per file would cost the read path
    this.sweep ??= setInterval(() => { this.closeIdle() }, IDLE_MS).unref()
    return k
  }

  /** Out of the table; closed now, or by the release of the last read that uses it. */
  private remove (k: PathHandle): void {
    if (this.kept.get(k.path) === k) {
      this.kept.delete(k.path)
      this.bytes -= k.bytes
    }
    if (k.users === 0) this.close(k.path, k.handle)
  }

  /** Least recently used first, beyond the caps; never `keep` (about to be used). */
  private trim (keep: PathHandle): void {
    for (const k of this.kept.values()) {
      if (this.kept.size <= MAX_KEPT && this.bytes <= MAX_KEPT_BYTES) return
      if (k !== keep) this.remove(k)
    }
  }

  private closeIdle (): void {
    const before = Date.now() - IDLE_MS
    for (const k of [...this.kept.values()]) if (k.users === 0 && k.usedAt < before) this.remove(k)
  }

  private close (path: string, handle: FileHandle): void {
    handle.close().catch((err: Error) => { this.onCloseError(path, err) })
  }
}

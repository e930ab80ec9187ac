/**
 * Large blobs are inflated once into a plain file under the cache directory
 * (`<dir>/<id>`) so that reads at any offset are positional file reads: a zlib
 * stream cannot seek, and a 512 MiB blob does not belong in memory. Readers may
 * start before inflation ends: a read waits only for the bytes it needs.
 * The file is renamed into place only after its hash is confirmed; a failed
 * hash fails every pending and later read of that blob.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import { LRUCache } from 'lru-cache'
import { writeAllAt } from '../atomic-file.ts'
import { IntegrityError } from '../errors.ts'
import { objectHeader } from '../git/object-id.ts'
import type { ObjectId } from '../types.ts'

function pidAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export class UnpackedBlob {
  /** bytes written so far, readable by positional reads */
  available = 0
  private error?: Error
  private done = false
  private waiters: Array<() => void> = []
  private users = 0
  private settle!: () => void
  /** settles when inflation has ended, well or not */
  readonly complete = new Promise<void>(resolve => { this.settle = resolve })

  /** `path`: where the file is once complete (it is written under another name until its hash is confirmed) */
  constructor (readonly id: ObjectId, readonly size: number, private readonly fh: FileHandle, private readonly path: string) {}

  /** The complete, hash-checked file: plain content from offset 0 (see BlobFile.plainPath). */
  plainPath (): string | undefined {
    return this.done && this.error === undefined ? this.path : undefined
  }

  /** Reads into `buf`; waits for the bytes while the blob is still being inflated. */
  async read (buf: Buffer, length: number, position: number): Promise<number> {
    const end = Math.min(position + length, this.size)
    if (position >= this.size || length <= 0) return 0
    while (this.available < end && !this.done) await new Promise<void>(resolve => this.waiters.push(resolve))
    if (this.error !== undefined) throw this.error
    const { bytesRead } = await this.fh.read(buf, 0, end - position, position)
    return bytesRead
  }

  progress (bytes: number): void {
    this.available = bytes
    this.wake()
  }

  finish (err?: Error): void {
    this.done = true
    if (err !== undefined) this.error = err
    this.wake()
    this.settle()
  }

  get failed (): boolean { return this.error !== undefined }

  acquire (): void { this.users++ }

  /** Returns true when nobody uses it any more. */
  release (): boolean { return --this.users <= 0 }

  get inUse (): boolean { return this.users > 0 }

  async close (): Promise<void> { await this.fh.close() }

  private wake (): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }
}

/**
 * The complete unpacked files in `dir` (named by blob id), each with its size
 * and mtime; `other` is called with every other name (temporary files).
 */
export async function unpackedFiles (dir: string, other?: (name: string) => Promise<void>): Promise<Array<{ id: ObjectId, size: number, mtime: number }>> {
  const found: Array<{ id: ObjectId, size: number, mtime: number }> = []
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!/^[0-9a-f]{40}$/.test(name)) { await other?.(name); continue }
    const st = await stat(join(dir, name)).catch(() => null)
    if (st !== null) found.push({ id: name, size: st.size, mtime: st.mtimeMs })
  }
  return found
}

export interface UnpackedBlobsOptions {
  dir: string
  /** bytes of unpacked files kept on disk before the least recently used go */
  budgetBytes: number
}

export class UnpackedBlobs {
  private readonly live = new Map<ObjectId, UnpackedBlob>()
  private readonly opening = new Map<ObjectId, Promise<UnpackedBlob>>()
  private readonly onDisk: LRUCache<ObjectId, number>

  constructor (private readonly opts: UnpackedBlobsOptions) {
    this.onDisk = new LRUCache<ObjectId, number>({
      maxSize: Math.max(1, opts.budgetBytes),
      sizeCalculation: (size) => Math.max(1, size),
      dispose: (_size, id, reason) => {
        if (reason === 'evict' && !this.live.has(id)) unlink(join(this.opts.dir, id)).catch(() => {})
      }
    })
  }

  /** Counts files left by earlier runs against the budget, oldest first; removes stale temp files. */
  async scan (): Promise<void> {
    const found = await unpackedFiles(this.opts.dir, async name => {
      // Left by a process that died mid-unpack; another live mount may still be writing its own.
      const tmp = /\.tmp-(\d+)-/.exec(name)
      if (tmp !== null && !pidAlive(Number(tmp[1]))) await unlink(join(this.opts.dir, name)).catch(() => {})
    })
    found.sort((a, b) => a.mtime - b.mtime)
    for (const f of found) this.onDisk.set(f.id, f.size)
  }

  /**
   * The unpacked blob `id`, produced by `source` (the object's inflated data as
   * chunks) when it is not on disk yet. Callers must `release()` it.
   */
  async get (id: ObjectId, size: number, source: () => AsyncIterable<Buffer>, trusted = false): Promise<UnpackedBlob> {
    const blob = this.live.get(id)
    if (blob !== undefined && !blob.failed) {
      blob.acquire()
      return blob
    }
    // One opening per blob: callers that come while it is under way share it.
    let opening = this.opening.get(id)
    if (opening === undefined) {
      opening = this.openFile(id, size, source, trusted)
      this.opening.set(id, opening)
      void opening.finally(() => { this.opening.delete(id) }).catch(() => {})
    }
    const opened = await opening
    opened.acquire()
    return opened
  }

  private async openFile (id: ObjectId, size: number, source: () => AsyncIterable<Buffer>, trusted: boolean): Promise<UnpackedBlob> {
    let blob: UnpackedBlob
    const final = join(this.opts.dir, id)
    const existing = await stat(final).catch(() => null)
    if (existing !== null && existing.size === size) {
      blob = new UnpackedBlob(id, size, await open(final, 'r'), final)
      blob.progress(size)
      blob.finish()
    } else {
      await mkdir(this.opts.dir, { recursive: true })
      const tmp = `${final}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`
      const wfh = await open(tmp, 'w+', 0o600)
      blob = new UnpackedBlob(id, size, wfh, final)
      void this.fill(blob, wfh, tmp, final, source, trusted)
    }
    this.live.set(id, blob)
    this.onDisk.set(id, size)
    return blob
  }

  /** Whether a file of `size` bytes fits the budget at all (a larger one would be on disk untracked). */
  fits (size: number): boolean { return size <= this.opts.budgetBytes }

  /**
   * The complete unpacked file of `id` if there is one now (and it counts as
   * used), without opening it; undefined while it is being written or when
   * there is none.
   */
  plainNow (id: ObjectId): string | undefined {
    const blob = this.live.get(id)
    if (blob !== undefined) return blob.plainPath()
    return this.onDisk.get(id) === undefined ? undefined : join(this.opts.dir, id)
  }

  /**
   * Writes the unpacked file of `id` from `source` unless it is there or on
   * its way. `trusted`: the source's bytes were hash-checked when they were
   * stored (a blob in the seekable layout), so they are not hashed again.
   */
  async materialize (id: ObjectId, size: number, source: () => AsyncIterable<Buffer>, trusted = false): Promise<void> {
    const blob = await this.get(id, size, source, trusted)
    await this.release(blob)
    await blob.complete
  }

  async release (blob: UnpackedBlob): Promise<void> {
    if (!blob.release()) return
    // The last reader left; the file is closed once inflation is over (a fill in
    // progress keeps writing, so the next open finds the whole blob on disk).
    void blob.complete.then(async () => {
      if (blob.inUse) return
      if (this.live.get(blob.id) === blob) this.live.delete(blob.id)
      await blob.close()
      if (!this.onDisk.has(blob.id) || blob.failed) await unlink(join(this.opts.dir, blob.id)).catch(() => {})
    })
  }

  private async fill (blob: UnpackedBlob, wfh: FileHandle, tmp: string, final: string, source: () => AsyncIterable<Buffer>, trusted: boolean): Promise<void> {
    const hash = trusted ? null : createHash('sha1').update(objectHeader('blob', blob.size))
    let written = 0
    let queued = 0
    // Writes run on the thread pool while the next chunk is inflated and hashed:
    // keep a few in flight, in order, and advance `available` as each lands.
    const inflight: Array<Promise<void>> = []
    try {
      for await (const chunk of source()) {
        if (queued + chunk.length > blob.size) throw new IntegrityError(`blob ${blob.id} is longer than its ${blob.size} bytes`, { code: 'EMALFORMED' })
        hash?.update(chunk)
        const at = queued
        queued += chunk.length
        const prev = inflight.length > 0 ? inflight[inflight.length - 1] : Promise.resolve()
        const p = writeAllAt(wfh, chunk, at).then(async () => {
          await prev
          written = at + chunk.length
          blob.progress(written)
        })
        p.catch(() => {}) // observed below; never unhandled
        inflight.push(p)
        if (inflight.length >= 4) await inflight.shift()
      }
      await Promise.all(inflight)
      if (written !== blob.size) throw new IntegrityError(`blob ${blob.id} ended at ${written} of ${blob.size} bytes`, { code: 'EMALFORMED' })
      const got = hash?.digest('hex') ?? blob.id
      if (got !== blob.id) throw new IntegrityError(`blob ${blob.id} hashes to ${got}`, { code: 'EBADHASH' })
      await rename(tmp, final)
      blob.finish()
    } catch (err) {
      await unlink(tmp).catch(() => {})
      this.onDisk.delete(blob.id)
      if (this.live.get(blob.id) === blob) this.live.delete(blob.id)
      blob.finish(err as Error)
    }
  }
}

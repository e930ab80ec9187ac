/**
 * A large blob arriving in chunks, in any order, straight into its final file:
 * `<objects>/gtfs-partial/<id>`, already in the seekable-loose layout
 * (seekable-loose.ts: zlib header, stored blocks of 65,535 bytes, "blob N\0"
 * inside the stream), so content byte X sits at a computed file offset.
 *
 * - `write(i, data)` checks chunk i against its SHA-256 (from the signed
 *   catalog; EBADHASH) and writes it with the block headers that fall inside
 *   it, one positional write. Only then does `has(i)` say yes: a reader reads
 *   only chunks that were verified and written.
 * - When the last chunk is in, the file is read once in order: the git SHA-1
 *   over "blob N\0" + content must be the id (else EBADHASH: the catalog's
 *   chunk hashes do not describe this blob, and the file goes), block headers
 *   are checked (rewritten if torn), the adler32 trailer is written, the file
 *   fsynced and renamed to the loose object's name. No second copy.
 * - Crash safety without a journal: nothing is served from a file that was
 *   not verified in this process. Reopened after a restart, every chunk is
 *   read back and hashed (a hole or a torn write fails and is fetched again).
 *   Chunk writes are not fsynced; the rename is, after the whole check.
 *
 * One process writes a store's partial files (the daemon), one instance per
 * blob (GitObjectStore.openPartial).
 */
import { createHash } from 'node:crypto'
import { mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { writeAllAt } from '../atomic-file.ts'
import { IntegrityError } from '../errors.ts'
import { objectHeader } from '../git/object-id.ts'
import type { ObjectId } from '../types.ts'
import { loosePath } from './loose.ts'
import { adler32Update, BLOCK, blockHeader, fileOffset, SeekableBlob, storedStreamSize, ZLIB_HEADER } from './seekable-loose.ts'

export const PARTIAL_DIR = 'gtfs-partial'

export function partialPath (objectsDir: string, id: ObjectId): string {
  return join(objectsDir, PARTIAL_DIR, id)
}

export interface PartialSpec {
  id: ObjectId
  size: number
  chunkBytes: number
  /** hex SHA-256 of each chunk, in order */
  hashes: string[]
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

export class PartialBlob {
  readonly count: number
  private readonly have: Uint8Array
  private present = 0
  private readonly writing = new Map<number, Promise<void>>()
  private readonly header: Buffer
  private readonly payload: number
  private readonly reader: SeekableBlob
  private finishing: Promise<void> | null = null
  private closed = false

  private constructor (readonly objectsDir: string, readonly spec: PartialSpec, private readonly fh: FileHandle) {
    this.count = Math.ceil(spec.size / spec.chunkBytes)
    if (spec.hashes.length !== this.count) throw new RangeError(`${spec.hashes.length} chunk hashes for ${this.count} chunks`)
    this.have = new Uint8Array(this.count)
    this.header = objectHeader('blob', spec.size)
    this.payload = this.header.length + spec.size
    this.reader = new SeekableBlob(spec.id, spec.size, this.header.length, fh)
  }

  get id (): ObjectId { return this.spec.id }
  get size (): number { return this.spec.size }
  get chunks (): number { return this.present }
  get complete (): boolean { return this.present === this.count }

  /**
   * The partial file of `spec.id`: created (with its final length, sparse), or
   * reopened and its chunks verified again (see the module comment).
   */
  static async open (objectsDir: string, spec: PartialSpec): Promise<PartialBlob> {
    const path = partialPath(objectsDir, spec.id)
    await mkdir(dirname(path), { recursive: true })
    let fh: FileHandle
    let fresh = false
    try {
      fh = await open(path, 'wx+', 0o600)
      fresh = true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      fh = await open(path, 'r+')
    }
    const p = new PartialBlob(objectsDir, spec, fh)
    try {
      if (fresh || (await fh.stat()).size !== storedStreamSize(p.payload)) await p.init()
      else await p.recheck()
    } catch (err) {
      await fh.close()
      throw err
    }
    return p
  }

  has (index: number): boolean { return this.have[index] === 1 }

  /** Chunk indexes in [from, to] not here yet. */
  missing (from: number, to: number): number[] {
    const out: number[] = []
    for (let i = Math.max(0, from); i <= Math.min(to, this.count - 1); i++) if (this.have[i] === 0) out.push(i)
    return out
  }

  /** Reads content bytes; the caller reads only chunks that `has`. */
  async read (buf: Buffer, length: number, position: number): Promise<number> {
    return await this.reader.read(buf, length, position)
  }

  /**
   * Writes chunk `index` after checking its SHA-256; the last one completes
   * the blob (see `done`). `verified`: the caller has just checked `data`
   * against this blob's hash of that chunk (the swarm checks every range on
   * arrival), so it is not hashed twice.
   */
  async write (index: number, data: Buffer, opts: { verified?: boolean } = {}): Promise<void> {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) throw new RangeError(`chunk ${index} of ${this.count}`)
    if (this.have[index] === 1) return
    const under = this.writing.get(index)
    if (under !== undefined) { await under; return }
    const off = index * this.spec.chunkBytes
    const len = Math.min(this.spec.chunkBytes, this.spec.size - off)
    if (data.length !== len) throw new IntegrityError(`chunk ${index} of ${this.id} is ${data.length} bytes, expected ${len}`, { code: 'EBADSIZE' })
    if (opts.verified !== true && sha256(data) !== this.spec.hashes[index]) throw new IntegrityError(`chunk ${index} of ${this.id} does not match its catalog hash`, { code: 'EBADHASH' })
    const w = this.writeRegion(off, data)
    this.writing.set(index, w)
    try {
      await w
    } finally {
      this.writing.delete(index)
    }
    this.have[index] = 1
    this.present++
  }

  /**
   * When every chunk is in: checks the whole blob and renames it into place
   * as the loose object (once; later calls share the run).
   */
  async done (): Promise<void> {
    if (!this.complete) throw new Error(`blob ${this.id}: ${this.count - this.present} chunks missing`)
    this.finishing ??= this.seal()
    await this.finishing
  }

  /** Closes the file (the partial file stays for a later run unless it was completed). */
  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Promise.allSettled([...this.writing.values()])
    await this.finishing?.catch(() => {})
    await this.fh.close()
  }

  /** What the file starts with: zlib header, first block header, "blob N\0". */
  private head (): Buffer {
    return Buffer.concat([ZLIB_HEADER, blockHeader(Math.min(BLOCK, this.payload), this.payload <= BLOCK), this.header])
  }

  /** The file's first bytes, at its final length. */
  private async init (): Promise<void> {
    await this.fh.truncate(0)
    await writeAllAt(this.fh, this.head(), 0)
    await this.fh.truncate(storedStreamSize(this.payload))
  }

  /** After a restart: a chunk counts only if its bytes hash right where they are. */
  private async recheck (): Promise<void> {
    const want = this.head()
    const head = Buffer.alloc(want.length)
    await this.fh.read(head, 0, head.length, 0)
    if (!head.equals(want)) { await this.init(); return }
    const buf = Buffer.allocUnsafe(this.spec.chunkBytes)
    for (let i = 0; i < this.count; i++) {
      const off = i * this.spec.chunkBytes
      const len = Math.min(this.spec.chunkBytes, this.spec.size - off)
      await this.reader.read(buf, len, off)
      if (sha256(buf.subarray(0, len)) === this.spec.hashes[i]) { this.have[i] = 1; this.present++ }
    }
  }

  /** Content [off, off+len) and the block headers inside it, as one contiguous write. */
  private async writeRegion (off: number, data: Buffer): Promise<void> {
    const start = this.header.length + off
    const end = start + data.length
    const parts: Buffer[] = []
    let position = fileOffset(start)
    for (let p = start; p < end;) {
      if (p % BLOCK === 0) {
        if (p === start) position -= 5
        parts.push(blockHeader(Math.min(BLOCK, this.payload - p), this.payload - p <= BLOCK))
      }
      const n = Math.min(end - p, BLOCK - (p % BLOCK))
      parts.push(data.subarray(p - start, p - start + n))
      p += n
    }
    await writeAllAt(this.fh, Buffer.concat(parts), position)
  }

  /** One pass in file order: SHA-1, adler32, block headers; then trailer, fsync, rename. */
  private async seal (): Promise<void> {
    const sha1 = createHash('sha1')
    let adler = 1
    const blocksPerRead = 16
    const buf = Buffer.allocUnsafe(blocksPerRead * (BLOCK + 5))
    for (let p = 0; p < this.payload; p += blocksPerRead * BLOCK) {
      const pEnd = Math.min(this.payload, p + blocksPerRead * BLOCK)
      const from = 2 + (p / BLOCK) * (BLOCK + 5)
      const bytes = fileOffset(pEnd - 1) + 1 - from
      const { bytesRead } = await this.fh.read(buf, 0, bytes, from)
      if (bytesRead !== bytes) throw new IntegrityError(`partial blob ${this.id} is shorter than its layout`, { code: 'EMALFORMED' })
      for (let q = p, at = 0; q < pEnd; q += BLOCK) {
        const n = Math.min(BLOCK, this.payload - q)
        const want = blockHeader(n, this.payload - q <= BLOCK)
        // a torn header (chunk data is checked, headers are not): put it right
        if (!buf.subarray(at, at + 5).equals(want)) await writeAllAt(this.fh, want, from + at)
        const data = buf.subarray(at + 5, at + 5 + n)
        sha1.update(data)
        adler = adler32Update(adler, [data])
        at += 5 + n
      }
    }
    const got = sha1.digest('hex')
    const path = partialPath(this.objectsDir, this.id)
    if (got !== this.id) {
      await unlink(path).catch(() => {})
      throw new IntegrityError(`blob ${this.id} put together from its catalog chunks hashes to ${got}`, { code: 'EBADHASH', hint: 'the catalog\'s chunk hashes do not describe this blob; ask the publisher to publish again' })
    }
    const trailer = Buffer.alloc(4)
    trailer.writeUInt32BE(adler)
    await writeAllAt(this.fh, trailer, storedStreamSize(this.payload) - 4)
    await this.fh.chmod(0o444) // as every loose object (loose.ts)
    await this.fh.sync()
    const final = loosePath(this.objectsDir, this.id)
    await mkdir(dirname(final), { recursive: true })
    await rename(path, final)
  }
}

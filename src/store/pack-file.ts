/**
 * One pack file and its index, read with positional reads on a kept-open fd.
 * Small entries are read whole and inflated synchronously (microseconds); the
 * object store streams large ones instead (see `entryLocation`).
 */
import { open, readFile, type FileHandle } from 'node:fs/promises'
import { inflateSync } from 'node:zlib'
import { LRUCache } from 'lru-cache'
import { IntegrityError } from '../errors.ts'
import { crc32 } from '../git/crc32.ts'
import { parsePackEntryHeader, type PackEntryHeader } from '../git/pack-entry.ts'
import { PackIndex } from '../git/pack-index.ts'
import type { DeflatedObject } from '../types.ts'
import { SingleFlight } from './single-flight.ts'

export interface RawEntry {
  header: PackEntryHeader
  /** the inflated entry data: the object, or a delta against its base */
  data: Buffer
}

/** Enough to parse any entry header: 1 type/size byte + up to 9 more + a 20-byte base id. */
const HEADER_PEEK = 64

/**
 * Pack bytes are read in aligned blocks kept in a shared in-memory LRU: objects
 * that git wrote next to each other (a directory's blobs, a delta chain) are then
 * served without another trip through the thread pool, which costs more than
 * the read itself when the pack is in the page cache.
 */
export const PACK_BLOCK = 256 * 1024

/** spare blocks a cache keeps for reuse, at most */
const MAX_SPARE_BLOCKS = 8

/**
 * Pack blocks in a byte-bounded LRU, shared by the packs of a store. A block
 * that leaves the cache is handed to the next block read instead of becoming
 * garbage: blocks outlive V8's young generation, so each evicted one waited
 * for a full GC, which V8 starts only after 64 MiB of such external memory
 * has piled up. Reading the wide tree (251 MiB of pack) that churn was the
 * daemon's saw-tooth, up to ~60 MiB above what it held alive.
 *
 * An evicted block becomes spare only at the next turn of the event loop
 * (setImmediate): a read that got the block from `get` uses it before then
 * (PackFile.range copies out of it before awaiting anything).
 */
export class BlockCache {
  private readonly lru: LRUCache<string, Buffer>
  private readonly spare: Buffer[] = []
  private evicted: Buffer[] = []

  constructor (bytes: number) {
    this.lru = new LRUCache<string, Buffer>({
      maxSize: Math.max(PACK_BLOCK, bytes),
      sizeCalculation: b => b.length,
      dispose: b => {
        if (b.length !== PACK_BLOCK) return
        if (this.evicted.length === 0) setImmediate(() => { this.recycle() })
        this.evicted.push(b)
      }
    })
  }

  get (key: string): Buffer | undefined { return this.lru.get(key) }

  set (key: string, block: Buffer): void { this.lru.set(key, block) }

  /** A buffer of `size` bytes to read a block into: a spare one when `size` is a whole block. */
  take (size: number): Buffer {
    return (size === PACK_BLOCK ? this.spare.pop() : undefined) ?? Buffer.allocUnsafeSlow(size)
  }

  private recycle (): void {
    for (const b of this.evicted) if (this.spare.length < MAX_SPARE_BLOCKS) this.spare.push(b)
    this.evicted = []
  }
}

export function newBlockCache (bytes: number): BlockCache {
  return new BlockCache(bytes)
}

export class PackFile {
  private readonly blockReads = new SingleFlight<number, Buffer>()

  private constructor (
    readonly path: string,
    readonly index: PackIndex,
    private readonly fh: FileHandle,
    readonly size: number,
    private readonly blocks: BlockCache
  ) {}

  static async open (packPath: string, idxPath: string, blocks: BlockCache = newBlockCache(PACK_BLOCK * 64)): Promise<PackFile> {
    const index = new PackIndex(await readFile(idxPath), idxPath)
    const fh = await open(packPath, 'r')
    try {
      const { size } = await fh.stat()
      const head = Buffer.alloc(12)
      await fh.read(head, 0, 12, 0)
      if (head.toString('latin1', 0, 4) !== 'PACK' || head.readUInt32BE(8) !== index.count) {
        throw new IntegrityError(`${packPath}: not a pack, or it does not match its index`, { code: 'EMALFORMED' })
      }
      return new PackFile(packPath, index, fh, size, blocks)
    } catch (err) {
      await fh.close()
      throw err
    }
  }

  /** Header of the entry at `offset` and where its compressed data lies. */
  async entryLocation (offset: number): Promise<{ header: PackEntryHeader, dataStart: number, dataEnd: number }> {
    const end = this.index.entryEnd(offset, this.size)
    const peek = await this.range(offset, Math.min(HEADER_PEEK, end - offset))
    const header = parsePackEntryHeader(peek, offset)
    return { header, dataStart: offset + header.headerLength, dataEnd: end }
  }

  /** The header of the entry at `offset` and its zlib stream as stored (one read). */
  async rawEntry (offset: number): Promise<{ header: PackEntryHeader, stream: Buffer }> {
    const end = this.index.entryEnd(offset, this.size)
    const raw = await this.range(offset, end - offset)
    const header = parsePackEntryHeader(raw, offset)
    return { header, stream: raw.subarray(header.headerLength) }
  }

  /**
   * `rawEntry` without waiting, when the entry lies in one cached block: its
   * stream is then a view of that block, to be copied before anything is
   * awaited (an evicted block is reused, BlockCache). Null otherwise.
   */
  rawEntryNow (offset: number): { header: PackEntryHeader, stream: Buffer } | null {
    const end = this.index.entryEnd(offset, this.size)
    const i = Math.floor(offset / PACK_BLOCK)
    if (Math.floor((end - 1) / PACK_BLOCK) !== i) return null
    const block = this.blocks.get(`${this.path}:${i}`)
    if (block === undefined) return null
    const raw = block.subarray(offset - i * PACK_BLOCK, end - i * PACK_BLOCK)
    const header = parsePackEntryHeader(raw, offset)
    return { header, stream: raw.subarray(header.headerLength) }
  }

  /** The header of the entry at `offset` when the block that holds it is cached, at once; else null. */
  entryHeaderNow (offset: number): PackEntryHeader | null {
    const i = Math.floor(offset / PACK_BLOCK)
    const end = Math.min(this.index.entryEnd(offset, this.size), offset + HEADER_PEEK)
    if (Math.floor((end - 1) / PACK_BLOCK) !== i) return null
    const block = this.blocks.get(`${this.path}:${i}`)
    if (block === undefined) return null
    return parsePackEntryHeader(block.subarray(offset - i * PACK_BLOCK, end - i * PACK_BLOCK), offset)
  }

  /** Reads and inflates the entry at `offset`; refuses to inflate past `maxSize` bytes. */
  async readEntry (offset: number, maxSize: number): Promise<RawEntry> {
    const { header, stream } = await this.rawEntry(offset)
    if (header.size > maxSize) {
      throw new IntegrityError(`${this.path}: entry at ${offset} is ${header.size} bytes, over the cap of ${maxSize}`, { code: 'ETOOLARGE' })
    }
    let data: Buffer
    try {
      data = inflateSync(stream, { maxOutputLength: Math.max(header.size, 1) })
    } catch (cause) {
      throw new IntegrityError(`${this.path}: entry at ${offset} does not inflate`, { code: 'EMALFORMED', cause })
    }
    if (data.length !== header.size) {
      throw new IntegrityError(`${this.path}: entry at ${offset} inflates to ${data.length} bytes, header says ${header.size}`, { code: 'EMALFORMED' })
    }
    return { header, data }
  }

  /**
   * The zlib stream of the whole (non-delta) entry at position `i` of the
   * index, as stored, without inflating it: null for a delta or an entry over
   * `maxSize` bytes. The entry's bytes are checked against the index's CRC-32
   * first, as git does before it reuses packed data (EBADCRC), since nothing
   * here hashes them.
   */
  async deflatedEntry (i: number, maxSize: number): Promise<DeflatedObject | null> {
    const offset = this.index.offsetAt(i)
    const { header, dataEnd } = await this.entryLocation(offset)
    if (header.type === 'ofs-delta' || header.type === 'ref-delta' || header.size > maxSize) return null
    const raw = await this.range(offset, dataEnd - offset)
    if (crc32(raw) !== this.index.crcAt(i)) {
      throw new IntegrityError(`${this.path}: entry at ${offset} does not match its CRC-32 in the index`, { code: 'EBADCRC' })
    }
    return { type: header.type, size: header.size, deflated: raw.subarray(header.headerLength) }
  }

  /**
   * At least the first `bytes` inflated bytes of an entry (fewer only when it
   * is shorter): enough for a delta's size varints. A dynamic Huffman block
   * opens with its code tables, ~100 bytes of stream (seen up to 115) before
   * the first byte comes out, so a prefix that gives too little is read again
   * four times longer.
   */
  async peekEntry (offset: number, bytes: number): Promise<{ header: PackEntryHeader, data: Buffer }> {
    const { header, dataStart, dataEnd } = await this.entryLocation(offset)
    const stream = dataEnd - dataStart
    for (let take = bytes + 160; ; take *= 4) {
      const data = inflatePrefix(await this.range(dataStart, Math.min(stream, take)))
      if (data.length >= bytes || take >= stream) return { header, data }
    }
  }

  /**
   * `length` bytes at `position` (a buffer of their own): copied from cached
   * blocks when small, else read directly. Copied, since a block may be
   * reused once it leaves the cache (BlockCache).
   */
  async range (position: number, length: number): Promise<Buffer> {
    const first = Math.floor(position / PACK_BLOCK)
    const last = Math.floor((position + length - 1) / PACK_BLOCK)
    if (length <= 0) return Buffer.alloc(0)
    const out = Buffer.allocUnsafe(length)
    if (last - first > 1) {
      await this.readExactly(out, position)
      return out
    }
    const start = position - first * PACK_BLOCK
    const got = (await this.block(first)).copy(out, 0, start, start + length)
    if (got < length) (await this.block(last)).copy(out, got, 0, length - got)
    return out
  }

  private async block (i: number): Promise<Buffer> {
    const key = `${this.path}:${i}`
    const hit = this.blocks.get(key)
    if (hit !== undefined) return hit
    return await this.blockReads.run(i, async () => {
      const at = i * PACK_BLOCK
      const buf = this.blocks.take(Math.min(PACK_BLOCK, this.size - at))
      await this.readExactly(buf, at)
      this.blocks.set(key, buf)
      return buf
    })
  }

  /** Bytes [start, end) as a stream, read through the kept-open handle (which it does not close). */
  stream (start: number, end: number): NodeJS.ReadableStream {
    return this.fh.createReadStream({ start, end: end - 1, highWaterMark: 1 << 20, autoClose: false })
  }

  async readExactly (buf: Buffer, position: number): Promise<void> {
    let done = 0
    while (done < buf.length) {
      const { bytesRead } = await this.fh.read(buf, done, buf.length - done, position + done)
      if (bytesRead === 0) throw new IntegrityError(`${this.path}: truncated at ${position + done}`, { code: 'EMALFORMED' })
      done += bytesRead
    }
  }

  async close (): Promise<void> {
    await this.fh.close()
  }
}

/** Inflates as much of a zlib stream's beginning as `raw` holds. */
export function inflatePrefix (raw: Buffer): Buffer {
  try {
    // Z_SYNC_FLUSH: give what can be inflated instead of failing on the cut-off end.
    return inflateSync(raw, { finishFlush: 2 })
  } catch (cause) {
    throw new IntegrityError('object does not inflate', { code: 'EMALFORMED', cause })
  }
}

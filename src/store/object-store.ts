/**
 * A git object store on disk (objects/: loose objects and packs with v2
 * indexes), readable by stock git. Reads are hash-verified, cached in memory
 * bounded by bytes, and merged when concurrent. Large blobs are served from
 * unpacked files (see unpacked-blob.ts) instead of memory.
 *
 * Measured on this machine (bench/object-read.ts): this reader vs a long-lived
 * `git cat-file --batch` and isomorphic-git's readObject — see the README of
 * this folder for the figures.
 */
import { createReadStream, statSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { createInflate } from 'node:zlib'
import { LRUCache } from 'lru-cache'
import { IntegrityError, NotFoundError } from '../errors.ts'
import { applyDelta, deltaSizes } from '../git/delta.ts'
import type { PackEntryHeader } from '../git/pack-entry.ts'
import { hashObject, isObjectId, parseObjectHeader, verifyObject } from '../git/object-id.ts'
import { logger } from '../log.ts'
import type { AbortOptions, DeflatedObject, GitObject, ObjectId, ObjectSource, ObjectType } from '../types.ts'
import { inBatchMemory } from '../zlib-worker.ts'
import { loosePath, looseHeader, readLoose, removeLoose, writeLoose } from './loose.ts'
import { newBlockCache, PackFile, type BlockCache } from './pack-file.ts'
import { PackIdFilter } from './pack-filter.ts'
import { cleanPackDir, PackWriter, type FlushStats, type HeldObject } from './pack-writer.ts'
import { PartialBlob, type PartialSpec } from './partial-blob.ts'
import { openSeekableLoose, writeSeekableLoose } from './seekable-loose.ts'
import { SingleFlight } from './single-flight.ts'
import { UnpackedBlobs } from './unpacked-blob.ts'
import { Warmer, type WarmStream } from './warm.ts'

const log = logger('gtfs:store:object-store')

export interface ObjectStoreOptions {
  /**
   * bytes of inflated objects kept in memory (default 16 MiB). The kernel's
   * page cache keeps file contents after a first read; this serves trees,
   * re-opens and objects just fetched. Memory is the `rss` figure's budget.
   */
  cacheBytes?: number
  /**
   * bytes of small blobs inflated ahead of their open on a `prefetch` hint
   * (default 4 MiB; 0: none). See warm.ts.
   */
  warmBytes?: number
  /** bytes of pack blocks kept in memory (default 8 MiB) */
  packBlockBytes?: number
  /** bytes of delta bases kept in memory (default 8 MiB) */
  deltaCacheBytes?: number
  /** largest object inflated into memory, bytes (default 1 GiB); a zlib bomb stops here */
  maxObjectBytes?: number
  /** blobs above this many bytes are served from unpacked files (default 4 MiB) */
  largeBlobBytes?: number
  /** where unpacked large blobs go; without it large blobs are read into memory */
  unpackedDir?: string
  /** bytes of unpacked blob files kept on disk (default 4 GiB) */
  unpackedBudgetBytes?: number
  /**
   * `sync: false` writes (objects received in bulk, which can be fetched
   * again) are held in memory and written as packs (see pack-writer.ts);
   * without it every write is a loose object. Only one process should write
   * packs into a store: the daemon.
   */
  packWrites?: boolean | { maxBytes?: number, maxObjects?: number, flushMs?: number, minPackObjects?: number }
}

export interface ObjectHeader { type: ObjectType, size: number }

/** bytes of each positional read that copies a seekable blob into its plain file */
const PLAIN_COPY_PIECE = 8 * 2 ** 20

/** Positional reads of a large blob's content (a seekable, unpacked or partial file). */
export interface BlobFile {
  readonly size: number
  read: (buf: Buffer, length: number, position: number, opts?: AbortOptions) => Promise<number>
  /**
   * A local file holding exactly the content from offset 0, complete and
   * hash-checked, for the kernel to read by itself (FUSE passthrough);
   * undefined when there is none yet. Asking may start one.
   */
  plainPath?: () => string | undefined
}

/** A blob's content: in memory when small, a file when large. */
export type BlobContent =
  | { kind: 'buffer', data: Buffer }
  | { kind: 'file', blob: BlobFile, release: () => Promise<void> }

type Location = { pack: PackFile, offset: number } | { loose: true } | { held: HeldObject }

const MAX_DELTA_DEPTH = 10_000
/** an id a stat found absent is not stat'ed again for this long (GitObjectStore.absentAt) */
const ABSENT_MS = 1000
const MAX_ABSENT = 100_000
/** blobs up to this size are warmed on a hint (a program's modules, a tree's small files) */
const WARM_MAX_OBJECT = 64 * 1024

/**
 * Heap an entry of the header and size caches takes, measured with
 * lru-cache 10 on node 20 (100,000 random ids, heap used after a full GC):
 * 124 and 85 bytes of slot and value, plus 65 for an id string that nothing
 * else holds. Bounded by count, as these were (200,000 and 500,000 entries),
 * a tree of a few hundred thousand objects would have filled them with
 * 38 + 75 MB.
 */
const HEADER_ENTRY_BYTES = 190
const SIZE_ENTRY_BYTES = 150
/** 4 MiB: about 22,000 headers; 8 MiB: about 56,000 sizes (the bench's wide tree has 50,000 files) */
const HEADER_CACHE_BYTES = 4 * 2 ** 20
const SIZE_CACHE_BYTES = 8 * 2 ** 20

/**
 * An object as the caches keep it: its own exact-sized memory. Inflated data
 * is often a view into a larger allocation (zlib's 16 KiB output chunks, a
 * header cut off, a whole loose file), which a byte-bounded cache would keep
 * alive without counting it: measured, a 16 MiB object cache held 60 MiB.
 */
function compact (o: GitObject): GitObject {
  const d = o.data
  if ((d.byteOffset === 0 && d.buffer.byteLength === d.length) || inBatchMemory(d)) return o
  const own = Buffer.allocUnsafeSlow(d.length)
  d.copy(own)
  return { type: o.type, data: own }
}

export class GitObjectStore implements ObjectSource {
  private packs: PackFile[] = []
  /** which ids may be in `packs` (pack-filter.ts), and how many ids those packs hold */
  private readonly packIds = new PackIdFilter()
  private packIdsLive = 0
  private readonly cache: LRUCache<ObjectId, GitObject>
  private readonly deltaBases: LRUCache<string, GitObject>
  private readonly blocks: BlockCache
  // Bounded by bytes through maxSize (not `max`: lru-cache allocates `max`
  // slots up front, measured 19 MiB for these two in every store, used or
  // not). Each entry costs about HEADER_ENTRY_BYTES / SIZE_ENTRY_BYTES of heap.
  private readonly headers = new LRUCache<ObjectId, ObjectHeader>({ maxSize: HEADER_CACHE_BYTES, sizeCalculation: () => HEADER_ENTRY_BYTES })
  private readonly sizes = new LRUCache<ObjectId, number>({ maxSize: SIZE_CACHE_BYTES, sizeCalculation: () => SIZE_ENTRY_BYTES })
  /** loose objects known to be on disk (written or seen here), so that `has` needs no syscall */
  private readonly looseKnown = new Set<ObjectId>()
  /**
   * When a stat last found an id absent: it is not asked again for ABSENT_MS.
   * Hints ask about objects on their way again and again (a cold walk spent
   * 0.26 s in those stats). What this process writes is known before this is
   * asked; what another writes (git, `gtfs publish`) shows within ABSENT_MS,
   * as new packs do (rescanPacks).
   */
  private absentAt = new Map<ObjectId, number>()
  /**
   * When a fan-out directory (objects/xx) was last found absent, for the same
   * ABSENT_MS: a store filled by packs (a swarm reader's) has few loose
   * objects, so most ids need no stat of their own and no absentAt entry.
   * At most 256 entries.
   */
  private readonly fanoutAbsentAt = new Map<string, number>()
  private readonly reads = new SingleFlight<ObjectId, GitObject>()
  /** large blobs arriving in chunks (partial-blob.ts), with the number of users of each */
  private readonly partials = new Map<ObjectId, { blob: Promise<PartialBlob>, users: number }>()
  private readonly headerReads = new SingleFlight<ObjectId, ObjectHeader>()
  private readonly unpacked?: UnpackedBlobs
  private readonly maxObjectBytes: number
  private readonly largeBlobBytes: number
  private lastRescan = 0
  private readonly packWriter?: PackWriter
  private readonly warmer: Warmer | null
  /**
   * When each pack (by file name) and loose object (by id) was last read from
   * disk, ms: what LRU eviction orders by (eviction.ts). A map update per disk
   * read, no file system write; the daemon persists it now and then.
   */
  readonly lastUse = new Map<string, number>()

  private constructor (readonly objectsDir: string, opts: ObjectStoreOptions) {
    const bytes = (o: GitObject): number => Math.max(1, o.data.length)
    this.cache = new LRUCache({ maxSize: opts.cacheBytes ?? 16 * 2 ** 20, sizeCalculation: bytes })
    this.deltaBases = new LRUCache({ maxSize: opts.deltaCacheBytes ?? 8 * 2 ** 20, sizeCalculation: bytes })
    this.blocks = newBlockCache(opts.packBlockBytes ?? 8 * 2 ** 20)
    this.maxObjectBytes = opts.maxObjectBytes ?? 2 ** 30
    this.largeBlobBytes = opts.largeBlobBytes ?? 4 * 2 ** 20
    const warmBytes = opts.warmBytes ?? 4 * 2 ** 20
    this.warmer = warmBytes > 0 ? new Warmer({ budgetBytes: warmBytes, streamOf: id => this.warmStream(id) }) : null
    if (opts.unpackedDir !== undefined) {
      this.unpacked = new UnpackedBlobs({ dir: opts.unpackedDir, budgetBytes: opts.unpackedBudgetBytes ?? 4 * 2 ** 30 })
    }
    if (opts.packWrites !== undefined && opts.packWrites !== false) {
      this.packWriter = new PackWriter({
        ...(opts.packWrites === true ? {} : opts.packWrites),
        objectsDir,
        onPack: async (packPath, idxPath) => { await this.addPack(packPath, idxPath) },
        onLoose: async objects => {
          for (const [id, o] of objects) {
            await writeLoose(this.objectsDir, o.type, o.data, id, false)
            this.looseKnown.add(id)
          }
        }
      })
    }
  }

  static async open (objectsDir: string, opts: ObjectStoreOptions = {}): Promise<GitObjectStore> {
    const store = new GitObjectStore(objectsDir, opts)
    // A crash may have left temp files or a pack without its index.
    if (store.packWriter !== undefined) await cleanPackDir(objectsDir)
    await store.rescanPacks()
    await store.unpacked?.scan()
    return store
  }

  /** Picks up packs added since the last scan (git gc, a fetch). */
  async rescanPacks (): Promise<void> {
    this.lastRescan = Date.now()
    const dir = join(this.objectsDir, 'pack')
    const names = await readdir(dir).catch(() => [] as string[])
    const known = new Set(this.packs.map(p => p.path))
    for (const name of names) {
      if (!name.endsWith('.idx')) continue
      const packPath = join(dir, name.slice(0, -4) + '.pack')
      if (known.has(packPath)) continue
      await this.addPack(packPath, join(dir, name)).catch((err: Error) => { log('skipping pack %s: %s', packPath, err.message) })
    }
  }

  /** Makes a pack readable (once: a rescan and the pack writer may both find it). */
  private async addPack (packPath: string, idxPath: string): Promise<void> {
    const pack = await PackFile.open(packPath, idxPath, this.blocks)
    if (this.packs.some(p => p.path === packPath)) {
      await pack.close()
      return
    }
    // Newest first: what was just fetched is what is read next.
    this.packs.unshift(pack)
    this.packIdsLive += pack.index.count
    if (!this.packIds.add(pack.index)) this.packIds.rebuild(this.packs.map(p => p.index), this.packIdsLive)
  }

  /** Makes a pack just put in objects/pack readable now (pack-compact.ts), as a rescan would. */
  async adoptPack (packPath: string, idxPath: string): Promise<void> {
    await this.addPack(packPath, idxPath)
  }

  /** The packs this store reads (eviction.ts). */
  get packList (): readonly PackFile[] { return this.packs }

  /**
   * Stops reading `pack` (eviction): it leaves the list at once; its file
   * handle closes after `graceMs`, so reads already under way finish.
   */
  retirePack (pack: PackFile, graceMs: number): void {
    const listed = this.packs.length
    this.packs = this.packs.filter(p => p !== pack)
    if (this.packs.length < listed) {
      this.packIdsLive -= pack.index.count
      // Its ids' bits stay set (false positives only) until most of the filter is of packs gone.
      if (this.packIds.stale(this.packIdsLive)) this.packIds.rebuild(this.packs.map(p => p.index), this.packIdsLive)
    }
    for (const key of this.deltaBases.keys()) if (key.startsWith(pack.path + ':')) this.deltaBases.delete(key)
    this.lastUse.delete(basename(pack.path))
    const t = setTimeout(() => { pack.close().catch(() => {}) }, graceMs)
    t.unref()
  }

  /** Forgets a loose object that eviction removed from disk. */
  forgetLoose (id: ObjectId): void {
    this.looseKnown.delete(id)
    this.lastUse.delete(id)
    this.sizes.delete(id)
    this.headers.delete(id)
  }

  /** Objects and bytes held in memory for the next pack; what the pack writer did so far. */
  get held (): { objects: number, bytes: number, flushed: FlushStats | null } {
    const w = this.packWriter
    return { objects: w?.heldObjects ?? 0, bytes: w?.heldBytes ?? 0, flushed: w === undefined ? null : { ...w.stats } }
  }

  /** Writes what is held in memory (a pack, or loose when few); resolves when durable. */
  async flush (): Promise<void> {
    await this.packWriter?.flush()
  }

  async has (id: ObjectId): Promise<boolean> {
    return (await this.locate(id)) !== null
  }

  /** Whether `id` is known here without touching the disk: held for a pack, in a pack, or a loose object seen before. */
  hasIndexed (id: ObjectId): boolean {
    return this.packWriter?.get(id) !== undefined || this.looseKnown.has(id) || (isObjectId(id) && this.findPacked(id) !== null)
  }

  async read (id: ObjectId, _opts?: AbortOptions): Promise<GitObject> {
    return await this.readVerified(id, true)
  }

  /** `keep`: into the object cache (a miss read with `keep` false leaves the cache as it was). */
  private async readVerified (id: ObjectId, keep: boolean): Promise<GitObject> {
    const hit = this.cache.get(id)
    if (hit !== undefined) return hit
    return await this.reads.run(id, async () => {
      const obj = await this.readUncached(id, 0)
      verifyObject(id, obj.type, obj.data)
      if (keep) this.cache.set(id, compact(obj))
      return obj
    })
  }

  /** Type and size without inflating the whole object. */
  async header (id: ObjectId): Promise<ObjectHeader> {
    const hit = this.headers.get(id) ?? this.cache.get(id)
    if (hit !== undefined) return 'data' in hit ? { type: hit.type, size: hit.data.length } : hit
    return await this.headerReads.run(id, async () => {
      const h = await this.readHeader(id, 0)
      this.headers.set(id, h)
      return h
    })
  }

  /**
   * The size of an object: one header peek, without following a delta chain to
   * its base (which `header` needs for the type). `stat` wants only this.
   */
  async size (id: ObjectId): Promise<number> {
    const hit = this.headers.get(id) ?? this.cache.get(id)
    if (hit !== undefined) return 'data' in hit ? hit.data.length : hit.size
    const known = this.sizes.get(id)
    if (known !== undefined) return known
    const loc = await this.locate(id)
    if (loc === null) throw this.missing(id)
    let size: number
    if ('held' in loc) {
      size = loc.held.data.length
    } else if ('loose' in loc) {
      size = (await this.header(id)).size
    } else {
      // A whole object's header says its size; only a delta needs inflating (its result size leads its data).
      const { header } = await loc.pack.entryLocation(loc.offset)
      size = header.type === 'ofs-delta' || header.type === 'ref-delta' ? deltaSizes((await loc.pack.peekEntry(loc.offset, 32)).data).resultSize : header.size
    }
    this.sizes.set(id, size)
    return size
  }

  /**
   * The zlib stream of `id` as stored, for a peer that takes it as is (see
   * ObjectSource.readDeflated): a whole pack entry (CRC-checked against the
   * index, EBADCRC) or a held object that came with its stream. Null for a
   * delta, a loose object (its stream holds the "<type> <size>\0" header, which
   * a pack entry has not), an object over `largeBlobBytes`, or one not held.
   */
  async readDeflated (id: ObjectId, _opts?: AbortOptions): Promise<DeflatedObject | null> {
    const loc = await this.locate(id)
    if (loc === null || 'loose' in loc) return null
    if ('held' in loc) {
      const h = loc.held
      return h.deflated === undefined ? null : { type: h.type, size: h.data.length, deflated: h.deflated }
    }
    const i = loc.pack.index.positionOf(Buffer.from(id, 'hex'))
    return i < 0 ? null : await loc.pack.deflatedEntry(i, this.largeBlobBytes)
  }

  /**
   * A hint: these blobs are likely to be opened soon. The small packed ones
   * are inflated and hashed ahead, off the main thread (warm.ts).
   */
  prefetch (ids: ObjectId[]): void {
    this.warmer?.hint(ids)
  }

  /** What warming did so far, and holds now. */
  get warm (): { warmed: number, taken: number, dropped: number, skipped: number, objects: number, bytes: number } | null {
    return this.warmer === null ? null : { ...this.warmer.stats, ...this.warmer.held }
  }

  /**
   * A small whole blob's stream in a pack, for the warmer (at once when its
   * pack block is cached: a view of it); null for anything else, or one in
   * memory already.
   */
  private warmStream (id: ObjectId): WarmStream | null | Promise<WarmStream | null> {
    if (this.cache.has(id) || !isObjectId(id)) return null
    const found = this.findPacked(id)
    if (found === null) return null
    this.lastUse.set(basename(found.pack.path), Date.now())
    const warmable = (e: { header: PackEntryHeader, stream: Buffer }): WarmStream | null =>
      e.header.type !== 'blob' || e.header.size > WARM_MAX_OBJECT ? null : { stream: e.stream, size: e.header.size }
    const now = found.pack.rawEntryNow(found.offset)
    return now !== null ? warmable(now) : found.pack.rawEntry(found.offset).then(warmable)
  }

  /**
   * openBlob answered at once for a blob in memory (the object cache, or
   * warmed ahead of its open); null means: ask openBlob. A first pass over
   * a tree of small files opens nearly every file this way, without a promise.
   */
  /**
   * The object at once when it is in memory, checked: in the object cache, or
   * held for the next pack (hashed when it was written). Else undefined: ask
   * `read`. A mount's structure walk reads its 2,500 just-fetched trees here.
   */
  readNow (id: ObjectId): GitObject | undefined {
    return this.cache.get(id) ?? this.packWriter?.get(id)
  }

  openBlobNow (id: ObjectId): BlobContent | null {
    const hit = this.cache.get(id)
    if (hit !== undefined) return hit.type === 'blob' ? { kind: 'buffer', data: hit.data } : null
    const data = this.warmer?.takeNow(id) ?? null
    return data === null ? null : { kind: 'buffer', data }
  }

  /**
   * `size` at once when no read is needed: the object or its size is in
   * memory, or it is a whole (not delta) pack entry whose header sits in a
   * cached block. Else null. `find` over a tree of small files stats every
   * file before anything opens it: most of those answers come from here.
   */
  sizeNow (id: ObjectId): number | null {
    const hit = this.headers.get(id) ?? this.cache.get(id)
    if (hit !== undefined) return 'data' in hit ? hit.data.length : hit.size
    const known = this.sizes.get(id) ?? this.warmer?.sizeNow(id) ?? this.packWriter?.get(id)?.data.length
    if (known !== undefined && known !== null) return known
    if (!isObjectId(id)) return null
    const found = this.findPacked(id)
    if (found === null) return null
    const header = found.pack.entryHeaderNow(found.offset)
    if (header === null || header.type === 'ofs-delta' || header.type === 'ref-delta') return null
    this.lastUse.set(basename(found.pack.path), Date.now())
    this.sizes.set(id, header.size)
    return header.size
  }

  /** A blob's content, streaming large blobs into an unpacked file. */
  async openBlob (id: ObjectId): Promise<BlobContent> {
    const hit = this.cache.get(id)
    if (hit !== undefined) {
      if (hit.type !== 'blob') throw new IntegrityError(`object ${id} is a ${hit.type}, not a blob`, { code: 'EWRONGTYPE' })
      return { kind: 'buffer', data: hit.data }
    }
    const warm = this.warmer?.take(id) ?? null
    const data = warm instanceof Promise ? await warm : warm
    if (data !== null) return { kind: 'buffer', data }
    const unpacked = this.unpacked
    const size = await this.size(id)
    if (size > this.largeBlobBytes && 'loose' in ((await this.locate(id)) ?? {})) {
      // Written here in the seekable layout: read in place, nothing to unpack.
      const seekable = await openSeekableLoose(this.objectsDir, id)
      if (seekable !== null) {
        const blob: BlobFile = unpacked === undefined
          ? seekable
          : { size: seekable.size, read: seekable.read.bind(seekable), plainPath: () => this.plainPath(id, seekable.size) }
        return { kind: 'file', blob, release: async () => { await seekable.close() } }
      }
    }
    if (unpacked === undefined || size <= this.largeBlobBytes) {
      // Not kept in the object cache: a mount keeps file contents in the
      // kernel's page cache (kernel_cache), and blobs read once would push out
      // the trees. Measured on the wide tree (50,000 files read once), keeping
      // them filled the 16 MiB cache with buffers that lived until a full GC.
      const obj = await this.readVerified(id, false)
      if (obj.type !== 'blob') throw new IntegrityError(`object ${id} is a ${obj.type}, not a blob`, { code: 'EWRONGTYPE' })
      return { kind: 'buffer', data: obj.data }
    }
    const h = await this.header(id)
    if (h.type !== 'blob') throw new IntegrityError(`object ${id} is a ${h.type}, not a blob`, { code: 'EWRONGTYPE' })
    const blob = await unpacked.get(id, h.size, () => this.streamBlob(id, h.size))
    return { kind: 'file', blob, release: async () => { await unpacked.release(blob) } }
  }

  /**
   * The plain copy of a large blob in the seekable layout, for passthrough
   * opens (BlobFile.plainPath): its unpacked file when that is complete; else
   * undefined, and one is written in the background (the seekable file cannot
   * be handed to the kernel: 5-byte block headers sit between the content's
   * pieces). It is copied by positional reads, not inflated and not hashed
   * again: the seekable file was checked when it was stored, and reads of it
   * trust it the same way. 512 MiB: ~0.4 s against 1.0-1.6 s inflated and
   * hashed. It counts against the unpacked files' budget like any other.
   * Undefined without an unpacked directory, or for a blob larger than its
   * whole budget.
   */
  plainPath (id: ObjectId, size: number): string | undefined {
    const unpacked = this.unpacked
    if (unpacked === undefined || !unpacked.fits(size)) return undefined
    const path = unpacked.plainNow(id)
    if (path !== undefined) return path
    const objectsDir = this.objectsDir
    async function * pieces (): AsyncGenerator<Buffer> {
      const seekable = await openSeekableLoose(objectsDir, id)
      if (seekable === null) throw new IntegrityError(`blob ${id} is not in the seekable layout`, { code: 'EMALFORMED' })
      try {
        for (let at = 0; at < size; at += PLAIN_COPY_PIECE) {
          const buf = Buffer.allocUnsafe(Math.min(PLAIN_COPY_PIECE, size - at))
          if (await seekable.read(buf, buf.length, at) !== buf.length) throw new IntegrityError(`blob ${id} ends before ${size} bytes`, { code: 'EMALFORMED' })
          yield buf
        }
      } finally {
        await seekable.close()
      }
    }
    unpacked.materialize(id, size, pieces, true).catch(err => { log('plain copy of %s: %s', id, (err as Error).message) })
    return undefined
  }

  /**
   * Bytes [off, off+len) of a blob (fewer at its end) and its size: positional
   * reads of a seekable or unpacked file for a large blob (an unpacked one is
   * inflated once, and the read waits only for its bytes), a slice otherwise.
   */
  async readRange (id: ObjectId, off: number, len: number): Promise<{ size: number, data: Buffer }> {
    const content = await this.openBlob(id)
    if (content.kind === 'buffer') return { size: content.data.length, data: content.data.subarray(off, off + len) }
    try {
      const size = content.blob.size
      const buf = Buffer.allocUnsafe(Math.max(0, Math.min(len, size - off)))
      const n = buf.length === 0 ? 0 : await content.blob.read(buf, buf.length, off)
      return { size, data: buf.subarray(0, n) }
    } finally {
      await content.release()
    }
  }

  /**
   * The partial file of a large blob arriving in chunks (one per blob and
   * store; resumed from disk after a restart). Each caller `releasePartial`s
   * it; once every chunk is in, `completePartial` makes it a loose object.
   */
  async openPartial (spec: PartialSpec): Promise<PartialBlob> {
    let e = this.partials.get(spec.id)
    if (e === undefined) {
      const blob = PartialBlob.open(this.objectsDir, spec)
      e = { blob, users: 0 }
      this.partials.set(spec.id, e)
      blob.catch(() => { if (this.partials.get(spec.id) === e) this.partials.delete(spec.id) })
    }
    e.users++
    try {
      return await e.blob
    } catch (err) {
      e.users--
      throw err
    }
  }

  async releasePartial (p: PartialBlob): Promise<void> {
    const e = this.partials.get(p.id)
    if (e === undefined || --e.users > 0) return
    this.partials.delete(p.id)
    await p.close()
  }

  /** True while a partial file of `id` is open here (eviction leaves it alone). */
  partialInUse (id: ObjectId): boolean { return this.partials.has(id) }

  /** Checks a partial blob whose chunks are all in and makes it the loose object `id`. */
  async completePartial (p: PartialBlob): Promise<void> {
    await p.done()
    this.sizes.delete(p.id)
    this.looseKnown.add(p.id)
  }

  /**
   * Stores an object (hash-checked first); `sync: false` for objects that can
   * be fetched again. `verified`: the caller has just hashed these bytes to
   * `expected` (the swarm checks every object on arrival), so they are not
   * hashed twice: that second SHA-1 was 8% of a reader's CPU in a cold walk.
   * `deflated`: a zlib stream known to inflate to `data` (a peer sent it and
   * the swarm inflated it); when the object goes into a pack, that stream is
   * its entry as is, not deflated again.
   */
  async write (type: ObjectType, data: Buffer, expected?: ObjectId, opts: { sync?: boolean, verified?: boolean, deflated?: Buffer } = {}): Promise<ObjectId> {
    const verified = opts.verified === true && expected !== undefined
    // In memory is not enough (eviction may have removed it from disk): held, or known on disk.
    if (expected !== undefined && (this.packWriter?.get(expected) !== undefined ||
        (this.cache.has(expected) && (this.looseKnown.has(expected) || this.findPacked(expected) !== null)))) {
      // Already here; the bytes offered must still be what they claim (EBADHASH).
      if (!verified) verifyObject(expected, type, data)
      return expected
    }
    const writer = this.packWriter
    if (writer !== undefined && opts.sync === false && data.length <= this.largeBlobBytes) {
      // Received in bulk: into the next pack. Readable from memory until then.
      const id = verified ? expected : hashObject(type, data)
      if (expected !== undefined && id !== expected) throw new IntegrityError(`object claimed to be ${expected} hashes to ${id}`, { code: 'EBADHASH' })
      if (this.findPacked(id) === null && !this.looseKnown.has(id)) {
        await writer.add(id, opts.deflated === undefined ? { type, data } : { type, data, deflated: opts.deflated })
      }
      this.cache.set(id, compact({ type, data }))
      return id
    }
    // Large blobs go in the seekable layout, read later at any offset without inflating.
    const id = type === 'blob' && data.length > this.largeBlobBytes
      ? await writeSeekableLoose(this.objectsDir, type, data, expected, opts.sync ?? true)
      : await writeLoose(this.objectsDir, type, data, expected, opts.sync ?? true)
    this.sizes.delete(id)
    this.looseKnown.add(id)
    // What was just written is about to be read (a fetch on open): keep it, it was hashed on the way in.
    if (data.length <= this.largeBlobBytes) this.cache.set(id, compact({ type, data }))
    return id
  }

  /**
   * Objects received together: each hash-checked, then held for one pack
   * (loose when the store writes no packs). Returns their ids.
   */
  async writeBatch (objects: Array<{ type: ObjectType, data: Buffer, id?: ObjectId }>): Promise<ObjectId[]> {
    const ids: ObjectId[] = []
    for (const o of objects) ids.push(await this.write(o.type, o.data, o.id, { sync: false }))
    return ids
  }

  /** Forgets a loose object that failed its check, so that it can be stored again. */
  async evict (id: ObjectId): Promise<void> {
    this.packWriter?.forget(id)
    this.cache.delete(id)
    this.headers.delete(id)
    this.sizes.delete(id)
    this.looseKnown.delete(id)
    await removeLoose(this.objectsDir, id)
  }

  async close (): Promise<void> {
    await this.packWriter?.close()
    const packs = this.packs
    this.packs = []
    await Promise.all(packs.map(async p => { await p.close() }))
  }

  private async locate (id: ObjectId): Promise<Location | null> {
    if (!isObjectId(id)) throw new NotFoundError(`not an object id: ${JSON.stringify(id)}`, { code: 'EBADID' })
    const held = this.packWriter?.get(id)
    if (held !== undefined) return { held }
    const found = this.findPacked(id)
    if (found !== null) {
      this.lastUse.set(basename(found.pack.path), Date.now())
      return found
    }
    if (this.looseKnown.has(id)) {
      this.lastUse.set(id, Date.now())
      return { loose: true }
    }
    // An existence check needs no inflating: a stat is enough (a bad object fails its hash when read).
    // Synchronous on purpose: a stat of a store path costs ~1 µs of CPU, the promise
    // API ~35 µs (thread-pool round trip, and an Error built for each miss), and a
    // seeder asks once per object it is sent. The store is never under a gtfs mount.
    const now = Date.now()
    const fanout = id.slice(0, 2)
    if (!(now - (this.absentAt.get(id) ?? this.fanoutAbsentAt.get(fanout) ?? -Infinity) < ABSENT_MS)) {
      const st = statSync(loosePath(this.objectsDir, id), { throwIfNoEntry: false })
      if (st?.isFile() === true) {
        this.looseKnown.add(id)
        this.lastUse.set(id, now)
        return { loose: true }
      }
      if (st === undefined && statSync(join(this.objectsDir, fanout), { throwIfNoEntry: false }) === undefined) {
        this.fanoutAbsentAt.set(fanout, now)
      } else {
        if (this.absentAt.size >= MAX_ABSENT) this.absentAt = new Map()
        this.absentAt.set(id, now)
      }
    }
    // A pack may have appeared since we looked (git gc, a fetch); look again at most once a second.
    if (now - this.lastRescan > 1000) {
      await this.rescanPacks()
      return this.findPacked(id)
    }
    return null
  }

  private findPacked (id: ObjectId): { pack: PackFile, offset: number } | null {
    if (this.packs.length === 0) return null
    const key = Buffer.from(id, 'hex')
    if (key.length !== 20 || !this.packIds.mightHave(key)) return null
    for (const pack of this.packs) {
      const offset = pack.index.findKey(key)
      if (offset >= 0) return { pack, offset }
    }
    return null
  }

  private missing (id: ObjectId): NotFoundError {
    return new NotFoundError(`object ${id} is not in ${this.objectsDir}`)
  }

  private async readUncached (id: ObjectId, depth: number): Promise<GitObject> {
    if (depth > MAX_DELTA_DEPTH) throw new IntegrityError(`object ${id}: delta chain too deep`, { code: 'EMALFORMED' })
    const loc = await this.locate(id)
    if (loc === null) throw this.missing(id)
    if ('held' in loc) return loc.held
    if ('loose' in loc) {
      const obj = await readLoose(this.objectsDir, id, this.maxObjectBytes)
      if (obj === null) throw this.missing(id)
      return obj
    }
    return await this.readPacked(loc.pack, loc.offset, depth)
  }

  private async readPacked (pack: PackFile, offset: number, depth: number): Promise<GitObject> {
    const key = `${pack.path}:${offset}`
    const hit = this.deltaBases.get(key)
    if (hit !== undefined) return hit
    if (depth > MAX_DELTA_DEPTH) throw new IntegrityError(`${pack.path}: delta chain too deep at ${offset}`, { code: 'EMALFORMED' })
    const { header, data } = await pack.readEntry(offset, this.maxObjectBytes)
    let obj: GitObject
    if (header.type !== 'ofs-delta' && header.type !== 'ref-delta') {
      obj = { type: header.type, data }
    } else {
      const base = header.type === 'ofs-delta'
        ? await this.readPacked(pack, header.baseOffset!, depth + 1)
        : await this.readUncached(header.baseId!, depth + 1)
      obj = { type: base.type, data: applyDelta(base.data, data, this.maxObjectBytes) }
    }
    // depth > 0: this entry is the base of a delta; the chain's other deltas will want it again.
    if (depth > 0) this.deltaBases.set(key, compact(obj))
    return obj
  }

  private async readHeader (id: ObjectId, depth: number): Promise<ObjectHeader> {
    const loc = await this.locate(id)
    if (loc === null) throw this.missing(id)
    if ('held' in loc) return { type: loc.held.type, size: loc.held.data.length }
    if ('loose' in loc) {
      const h = await looseHeader(this.objectsDir, id)
      if (h === null) throw this.missing(id)
      return h
    }
    let { pack, offset } = loc
    // Follow the chain to the base for the type; the size is the first delta's result size.
    let size: number | undefined
    for (let d = depth; ; d++) {
      if (d > MAX_DELTA_DEPTH) throw new IntegrityError(`object ${id}: delta chain too deep`, { code: 'EMALFORMED' })
      const { header, data } = await pack.peekEntry(offset, 32)
      if (header.type !== 'ofs-delta' && header.type !== 'ref-delta') return { type: header.type, size: size ?? header.size }
      size ??= deltaSizes(data).resultSize
      if (header.type === 'ofs-delta') {
        offset = header.baseOffset!
      } else {
        const base = await this.readHeader(header.baseId!, d + 1)
        return { type: base.type, size }
      }
    }
  }

  /** The inflated data of a blob as chunks, without holding it whole when it is not deltified. */
  async * streamBlob (id: ObjectId, size: number): AsyncGenerator<Buffer> {
    const loc = await this.locate(id)
    if (loc === null) throw this.missing(id)
    // A deep readable buffer lets inflation (thread pool) run ahead of hashing and writing.
    const opts = { chunkSize: 1 << 20, maxOutputLength: size + 64, readableHighWaterMark: 8 << 20 }
    if ('held' in loc) {
      yield loc.held.data
      return
    }
    if ('loose' in loc) {
      let headerSkipped = false
      for await (const chunk of createReadStream(loosePath(this.objectsDir, id), { highWaterMark: 1 << 20 }).pipe(createInflate(opts))) {
        let c = chunk as Buffer
        if (!headerSkipped) {
          const { start } = parseObjectHeader(c, `loose object ${id}`)
          c = c.subarray(start)
          headerSkipped = true
        }
        yield c
      }
      return
    }
    const { header, dataStart, dataEnd } = await loc.pack.entryLocation(loc.offset)
    if (header.type === 'blob') {
      // Through the pack's open handle: an evicted pack stays readable for reads under way.
      const raw = loc.pack.stream(dataStart, dataEnd)
      for await (const chunk of raw.pipe(createInflate(opts))) yield chunk as Buffer
      return
    }
    // A deltified large blob has to be rebuilt in memory once.
    yield (await this.readUncached(id, 0)).data
  }
}

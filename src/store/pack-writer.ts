/**
 * Objects received in bulk (a swarm fetch) go into packs instead of one loose
 * file each: deflating, opening, writing and renaming per object dominated a
 * cold read of a wide tree. The writer keeps hash-checked objects in memory
 * (readable from there at once) and writes them out as one pack + .idx v2 when
 * it holds `maxBytes` or `maxObjects`, or `flushMs` after the first one came.
 * A batch smaller than `minPackObjects` goes loose instead: many tiny packs
 * would slow every lookup.
 *
 * Crash safety: the pack and its index are written to temp files in
 * objects/pack (fsynced), then the .pack is renamed into place, then the .idx,
 * then the directory is fsynced. Readers (ours and git) use a pack only once
 * its .idx exists, which is written after the .pack is durable, so a crash
 * leaves at worst a temp file or an orphan .pack; `cleanPackDir` removes those
 * once they are stale. Objects lost in a crash are ones that can be fetched
 * again (only `sync: false` writes come here).
 *
 * Deflating runs on the process's zlib worker thread (../zlib-worker.ts),
 * off the main thread that parses the wire and answers FUSE. An object that
 * came with its zlib stream (a peer sent a pack entry as stored) is not
 * deflated again: that stream, checked to inflate to the object, becomes its
 * entry as is.
 */
import { open, readdir, rename, stat, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { syncDir, writevAll } from '../atomic-file.ts'
import { buildPack, type PackInput } from '../git/pack-write.ts'
import { logger } from '../log.ts'
import type { GitObject, ObjectId } from '../types.ts'
import { deflateAll } from '../zlib-worker.ts'

const log = logger('gtfs:store:pack-writer')

export interface PackWriterOptions {
  objectsDir: string
  /** flush when this many bytes are held (default 16 MiB) */
  maxBytes?: number
  /** flush when this many objects are held (default 20 000) */
  maxObjects?: number
  /** flush this many ms after the first object of a batch came (default 1000) */
  flushMs?: number
  /** a batch smaller than this is written loose (default 32) */
  minPackObjects?: number
  /** zlib level of pack entries (default 1: the store is a cache, speed matters more than a few percent of disk) */
  level?: number
  /** a new pack is durable: make it readable, then the writer forgets its objects */
  onPack: (packPath: string, idxPath: string, ids: ObjectId[]) => Promise<void>
  /** writes a batch too small for a pack as loose objects */
  onLoose: (objects: Array<[ObjectId, GitObject]>) => Promise<void>
}

export interface FlushStats {
  packs: number
  packedObjects: number
  packedBytes: number
  looseObjects: number
  /** packed objects whose zlib stream came with them (not deflated here) */
  reusedStreams: number
}

/** An object held for the next pack; `deflated`: a zlib stream of `data`, written as its entry as is. */
export interface HeldObject extends GitObject { deflated?: Buffer }

/** Memory a held object takes. */
function weight (o: HeldObject): number { return o.data.length + (o.deflated?.length ?? 0) }

/** temp files: ".tmp-gtfs-<pid>-<n>-pack|-idx" in objects/pack (git reads any *.idx there) */
export const TMP_PREFIX = '.tmp-gtfs-'
let tmpCounter = 0

export class PackWriter {
  private pending = new Map<ObjectId, HeldObject>()
  /** the batch being written: still readable until its pack is open */
  private writing = new Map<ObjectId, HeldObject>()
  private pendingBytes = 0
  private timer: NodeJS.Timeout | undefined
  private flushing: Promise<void> | null = null
  private readonly maxBytes: number
  private readonly maxObjects: number
  private readonly flushMs: number
  private readonly minPackObjects: number
  readonly stats: FlushStats = { packs: 0, packedObjects: 0, packedBytes: 0, looseObjects: 0, reusedStreams: 0 }
  private failure: Error | null = null

  constructor (private readonly o: PackWriterOptions) {
    this.maxBytes = o.maxBytes ?? 16 * 2 ** 20
    this.maxObjects = o.maxObjects ?? 20_000
    this.flushMs = o.flushMs ?? 1000
    this.minPackObjects = o.minPackObjects ?? 32
  }

  get heldObjects (): number { return this.pending.size + this.writing.size }
  get heldBytes (): number {
    let n = this.pendingBytes
    for (const o of this.writing.values()) n += weight(o)
    return n
  }

  /** An object held in memory, not yet in a pack on disk. */
  get (id: ObjectId): HeldObject | undefined {
    return this.pending.get(id) ?? this.writing.get(id)
  }

  /**
   * Holds a hash-checked object for the next pack. Waits only when twice the
   * flush size is held (the disk is slower than the swarm): memory stays bounded.
   */
  async add (id: ObjectId, obj: HeldObject): Promise<void> {
    if (this.failure !== null) {
      const err = this.failure
      this.failure = null
      throw err
    }
    if (this.get(id) !== undefined) return
    this.pending.set(id, obj)
    this.pendingBytes += weight(obj)
    if (this.pendingBytes >= this.maxBytes || this.pending.size >= this.maxObjects) {
      const f = this.flush()
      if (this.pendingBytes >= this.maxBytes) await f
      return
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => { this.timer = undefined; this.flush().catch(() => {}) }, this.flushMs)
      this.timer.unref()
    }
  }

  /** Drops a held object (it failed a check). */
  forget (id: ObjectId): void {
    const o = this.pending.get(id)
    if (o === undefined) return
    this.pending.delete(id)
    this.pendingBytes -= weight(o)
  }

  /** Writes what is held now; resolves when it is durable (or written loose). */
  async flush (): Promise<void> {
    while (this.flushing !== null) await this.flushing
    if (this.pending.size === 0) return
    clearTimeout(this.timer)
    this.timer = undefined
    const batch = this.pending
    this.writing = batch
    this.pending = new Map()
    this.pendingBytes = 0
    this.flushing = this.writeBatch(batch).catch((err: Error) => {
      // Keep the objects readable and try again with the next flush; report it to the next writer.
      log('flush of %d objects failed: %s', batch.size, err.message)
      for (const [id, o] of batch) if (!this.pending.has(id)) { this.pending.set(id, o); this.pendingBytes += weight(o) }
      this.failure = err
    }).finally(() => {
      this.writing = new Map()
      this.flushing = null
    })
    await this.flushing
  }

  async close (): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    await this.flush()
  }

  private async writeBatch (batch: Map<ObjectId, HeldObject>): Promise<void> {
    const objects = [...batch]
    if (objects.length < this.minPackObjects) {
      await this.o.onLoose(objects)
      this.stats.looseObjects += objects.length
      return
    }
    const plain = objects.filter(([, o]) => o.deflated === undefined).map(([, o]) => o.data)
    const made = plain.length === 0 ? [] : await deflateAll(plain, this.o.level ?? 1)
    let k = 0
    const inputs: PackInput[] = objects.map(([id, o]) => ({ id, type: o.type, size: o.data.length, deflated: o.deflated ?? made[k++] }))
    const built = buildPack(inputs)
    const tmp = tempPackName(this.o.objectsDir)
    await writeDurable(`${tmp}-pack`, built.pack)
    const { packPath, idxPath } = await installPack(tmp, built.idx, built.checksum)
    await this.o.onPack(packPath, idxPath, objects.map(([id]) => id))
    this.stats.packs++
    this.stats.packedObjects += objects.length
    this.stats.reusedStreams += objects.length - plain.length
    this.stats.packedBytes += built.packBytes
    log('pack %s: %d objects, %d bytes', built.checksum, objects.length, built.packBytes)
  }
}

/** A new temp name in objects/pack: `<name>-pack` and `<name>-idx` are the two files. */
export function tempPackName (objectsDir: string): string {
  return join(objectsDir, 'pack', `${TMP_PREFIX}${process.pid}-${(tmpCounter++).toString(36)}`)
}

/**
 * Puts a pack in place once its temp file `<tmp>-pack` is durable: writes its
 * index durably, renames the .pack, then the .idx (readers use a pack only
 * once its .idx exists), then syncs the directory. On failure both temp files
 * are removed.
 */
export async function installPack (tmp: string, idx: Buffer, checksum: string): Promise<{ packPath: string, idxPath: string }> {
  const dir = dirname(tmp)
  const packPath = join(dir, `pack-${checksum}.pack`)
  const idxPath = join(dir, `pack-${checksum}.idx`)
  try {
    await writeDurable(`${tmp}-idx`, [idx])
    await rename(`${tmp}-pack`, packPath)
    await rename(`${tmp}-idx`, idxPath)
  } catch (err) {
    await unlink(`${tmp}-pack`).catch(() => {})
    await unlink(`${tmp}-idx`).catch(() => {})
    throw err
  }
  await syncDir(dir)
  return { packPath, idxPath }
}

async function writeDurable (path: string, chunks: Buffer[]): Promise<void> {
  const fh = await open(path, 'wx', 0o444)
  try {
    await writevAll(fh, chunks)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

function alive (pid: number): boolean {
  if (pid === process.pid) return true
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** an orphan .pack (no .idx) or a temp file of a live process is left alone this long, ms */
export const STALE_MS = 10 * 60_000

/**
 * Removes what a crash left in objects/pack: temp files of processes that are
 * gone (or older than STALE_MS), and .pack files without an .idx older than
 * STALE_MS (another process may be between its two renames). Returns the
 * names removed.
 */
export async function cleanPackDir (objectsDir: string, now = Date.now()): Promise<string[]> {
  const dir = join(objectsDir, 'pack')
  const names = await readdir(dir).catch(() => [] as string[])
  const have = new Set(names)
  const removed: string[] = []
  for (const name of names) {
    let stale = false
    const age = async (): Promise<number> => now - ((await stat(join(dir, name)).catch(() => null))?.mtimeMs ?? now)
    if (name.startsWith(TMP_PREFIX)) {
      const pid = Number(name.slice(TMP_PREFIX.length).split('-')[0])
      stale = (Number.isSafeInteger(pid) && pid > 0 && !alive(pid)) || await age() > STALE_MS
    } else if (name.startsWith('pack-') && name.endsWith('.pack') && !have.has(name.slice(0, -5) + '.idx')) {
      stale = await age() > STALE_MS
    }
    if (!stale) continue
    await unlink(join(dir, name)).then(() => { removed.push(name) }, () => {})
  }
  return removed
}

/**
 * Disk quota for the object store: what it holds (loose objects, packs, objects
 * still in memory), and least-recently-used eviction down to a quota.
 *
 * - Units of eviction are loose objects and whole packs. Recency is the store's
 *   in-memory `lastUse` map (updated on every disk read, no file system write),
 *   persisted now and then by `saveLastUse`, and the file's mtime for a unit
 *   never read since.
 * - Pinned objects (the caller's set: the commits, trees and catalogs of what
 *   is mounted or accepted as current, and the signed documents) are never
 *   evicted. A pack that holds pinned objects is evicted by copying those out
 *   first (into a new pack, or loose when few), then removing it.
 * - A unit read within `recentMs` is kept: a reader may be using it right now.
 *   A removed pack stays open `graceMs` for reads already under way.
 * - Partial files of large blobs arriving in chunks (partial-blob.ts,
 *   objects/gtfs-partial/) count with the blocks they hold on disk (they are
 *   sparse); one not open in this process is a unit like a loose object, by
 *   its mtime; an open one is never evicted.
 * - Eviction stops at `lowWater` of the quota, so that it does not run again
 *   after the next few writes.
 */
import { readdir, rename, stat, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { readFileCapped, writeFileAtomic } from '../atomic-file.ts'
import { isObjectId } from '../git/object-id.ts'
import { logger } from '../log.ts'
import type { GitObject, ObjectId } from '../types.ts'
import type { GitObjectStore } from './object-store.ts'
import type { PackFile } from './pack-file.ts'
import { PARTIAL_DIR } from './partial-blob.ts'
import { STALE_MS, TMP_PREFIX } from './pack-writer.ts'

const log = logger('gtfs:store:eviction')

type Unit =
  | { kind: 'loose', id: ObjectId, bytes: number, lastUse: number, pinned: boolean }
  | { kind: 'pack', pack: PackFile, bytes: number, lastUse: number, pinned: ObjectId[] }
  | { kind: 'partial', id: ObjectId, bytes: number, lastUse: number, inUse: boolean }

export interface StoreUsage {
  loose: { objects: number, bytes: number }
  packed: { packs: number, objects: number, bytes: number }
  /** partial files of large blobs arriving in chunks (bytes: blocks on disk) */
  partial: { files: number, bytes: number }
  /** received, waiting in memory for the next pack */
  held: { objects: number, bytes: number }
  /** bytes on disk: loose + packed + partial */
  totalBytes: number
  /** bytes on disk of loose objects that are pinned and packs that hold pinned objects */
  pinnedBytes: number
  pinnedObjects: number
  /** the least recent use among the units on disk (ms since epoch), null when empty */
  oldestUse: number | null
}

export interface GcOptions {
  /** the quota, bytes on disk */
  maxBytes: number
  pins: ReadonlySet<ObjectId>
  /** evict down to this share of maxBytes (default 0.9) */
  lowWater?: number
  /** units read within this many ms are kept (default 60 s) */
  recentMs?: number
  /** an evicted pack's file handle stays open this long for reads under way (default 120 s) */
  graceMs?: number
  now?: number
}

export interface GcResult {
  before: StoreUsage
  after: StoreUsage
  freedBytes: number
  evicted: { looseObjects: number, packs: number }
  /** pinned objects copied out of evicted packs */
  kept: number
  /** over quota, but everything left is pinned or in use */
  overQuota: boolean
}

async function looseUnits (store: GitObjectStore, pins: ReadonlySet<ObjectId>, now: number): Promise<Unit[]> {
  const units: Unit[] = []
  const dirs = (await readdir(store.objectsDir).catch(() => [] as string[])).filter(d => /^[0-9a-f]{2}$/.test(d))
  for (const d of dirs) {
    const names = await readdir(join(store.objectsDir, d)).catch(() => [] as string[])
    for (const name of names) {
      const path = join(store.objectsDir, d, name)
      const st = await stat(path).catch(() => null)
      if (st === null || !st.isFile()) continue
      const id = d + name
      if (!isObjectId(id)) {
        // a temp file of a write that never finished
        if (name.startsWith('.tmp-') && now - st.mtimeMs > STALE_MS) await unlink(path).catch(() => {})
        continue
      }
      units.push({ kind: 'loose', id, bytes: st.size, lastUse: store.lastUse.get(id) ?? st.mtimeMs, pinned: pins.has(id) })
    }
  }
  return units
}

async function partialUnits (store: GitObjectStore): Promise<Unit[]> {
  const units: Unit[] = []
  const dir = join(store.objectsDir, PARTIAL_DIR)
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!isObjectId(name)) continue
    const st = await stat(join(dir, name)).catch(() => null)
    if (st === null || !st.isFile()) continue
    units.push({ kind: 'partial', id: name, bytes: st.blocks * 512, lastUse: st.mtimeMs, inUse: store.partialInUse(name) })
  }
  return units
}

async function packUnits (store: GitObjectStore, pins: ReadonlySet<ObjectId>): Promise<Unit[]> {
  const units: Unit[] = []
  for (const pack of store.packList) {
    const st = await stat(pack.path).catch(() => null)
    if (st === null) continue
    const pinned: ObjectId[] = []
    for (const id of pins) if (pack.index.find(id) >= 0) pinned.push(id)
    // .idx v2: header and fan-out, 28 bytes an object, two checksums (64-bit offsets are rare)
    const idxBytes = 1072 + pack.index.count * 28 + 40
    units.push({ kind: 'pack', pack, bytes: pack.size + idxBytes, lastUse: store.lastUse.get(basename(pack.path)) ?? st.mtimeMs, pinned })
  }
  return units
}

async function scan (store: GitObjectStore, pins: ReadonlySet<ObjectId>, now: number): Promise<{ units: Unit[], usage: StoreUsage }> {
  await store.rescanPacks()
  const units = [...await looseUnits(store, pins, now), ...await packUnits(store, pins), ...await partialUnits(store)]
  const usage: StoreUsage = {
    loose: { objects: 0, bytes: 0 },
    packed: { packs: 0, objects: 0, bytes: 0 },
    partial: { files: 0, bytes: 0 },
    held: { objects: store.held.objects, bytes: store.held.bytes },
    totalBytes: 0,
    pinnedBytes: 0,
    pinnedObjects: 0,
    oldestUse: null
  }
  for (const u of units) {
    usage.totalBytes += u.bytes
    usage.oldestUse = Math.min(usage.oldestUse ?? u.lastUse, u.lastUse)
    if (u.kind === 'loose') {
      usage.loose.objects++
      usage.loose.bytes += u.bytes
      if (u.pinned) { usage.pinnedBytes += u.bytes; usage.pinnedObjects++ }
    } else if (u.kind === 'partial') {
      usage.partial.files++
      usage.partial.bytes += u.bytes
    } else {
      usage.packed.packs++
      usage.packed.objects += u.pack.index.count
      usage.packed.bytes += u.bytes
      if (u.pinned.length > 0) { usage.pinnedBytes += u.bytes; usage.pinnedObjects += u.pinned.length }
    }
  }
  return { units, usage }
}

/** What the store holds, and how much of it is pinned. */
export async function storeUsage (store: GitObjectStore, pins: ReadonlySet<ObjectId> = new Set()): Promise<StoreUsage> {
  return (await scan(store, pins, Date.now())).usage
}

/** Evicts least recently used, unpinned objects until the store is under `lowWater` of the quota. */
export async function collectGarbage (store: GitObjectStore, o: GcOptions): Promise<GcResult> {
  const now = o.now ?? Date.now()
  const recentMs = o.recentMs ?? 60_000
  const graceMs = o.graceMs ?? 120_000
  // What is in memory goes to disk first: it counts against the quota too.
  await store.flush()
  const { units, usage: before } = await scan(store, o.pins, now)
  const result: GcResult = { before, after: before, freedBytes: 0, evicted: { looseObjects: 0, packs: 0 }, kept: 0, overQuota: false }
  if (before.totalBytes <= o.maxBytes) return result
  const target = Math.floor(o.maxBytes * (o.lowWater ?? 0.9))
  let total = before.totalBytes
  units.sort((a, b) => a.lastUse - b.lastUse)
  for (const u of units) {
    if (total <= target) break
    if (now - u.lastUse < recentMs) continue
    if (u.kind === 'partial') {
      if (u.inUse) continue
      if (!await unlink(join(store.objectsDir, PARTIAL_DIR, u.id)).then(() => true, () => false)) continue
      total -= u.bytes
      result.freedBytes += u.bytes
      continue
    }
    if (u.kind === 'loose') {
      if (u.pinned) continue
      const ok = await unlink(join(store.objectsDir, u.id.slice(0, 2), u.id.slice(2))).then(() => true, () => false)
      store.forgetLoose(u.id)
      if (!ok) continue
      total -= u.bytes
      result.freedBytes += u.bytes
      result.evicted.looseObjects++
      continue
    }
    // Keep the pinned objects of this pack: read them before it goes, write them anew after.
    let keep: Array<[ObjectId, GitObject]>
    try {
      keep = await Promise.all(u.pinned.map(async id => [id, await store.read(id)] as [ObjectId, GitObject]))
    } catch (err) {
      log('keeping %s: %s', u.pack.path, (err as Error).message)
      continue
    }
    // Withdrawn before the kept objects are written: a pack of them may get the very same name.
    const drop = await withdrawPack(store, u.pack, graceMs)
    if (keep.length > 0) {
      await store.writeBatch(keep.map(([id, obj]) => ({ id, type: obj.type, data: obj.data })))
      await store.flush()
      result.kept += keep.length
    }
    await drop()
    total -= u.bytes
    result.freedBytes += u.bytes
    result.evicted.packs++
  }
  result.after = (await scan(store, o.pins, now)).usage
  result.overQuota = result.after.totalBytes > o.maxBytes
  log('gc: %d -> %d bytes (quota %d): %d loose objects, %d packs evicted, %d pinned objects kept', before.totalBytes, result.after.totalBytes, o.maxBytes, result.evicted.looseObjects, result.evicted.packs, result.kept)
  return result
}

let withdrawn = 0

/**
 * Takes `pack` out of the store: out of sight first, the .idx before the
 * .pack (without it neither git nor a rescan reads the pack), then out of the
 * store's list (its handle closes after `graceMs`, for reads under way).
 * Returns the removal of its files, for once what replaces its objects is
 * written. A crash in between leaves temp files that the next open removes.
 */
export async function withdrawPack (store: GitObjectStore, pack: PackFile, graceMs: number): Promise<() => Promise<void>> {
  const gone = join(dirname(pack.path), `${TMP_PREFIX}${process.pid}-withdrawn-${withdrawn++}`)
  await rename(pack.path.slice(0, -5) + '.idx', `${gone}-idx`).catch(() => {})
  await rename(pack.path, `${gone}-pack`).catch(() => {})
  store.retirePack(pack, graceMs)
  return async () => {
    await unlink(`${gone}-idx`).catch(() => {})
    await unlink(`${gone}-pack`).catch(() => {})
  }
}

/** cap on the persisted recency file, bytes (a million loose objects ~ 60 MB; beyond that mtimes do) */
const MAX_LAST_USE_BYTES = 64 * 2 ** 20

/** Restores recency persisted by `saveLastUse`; entries the store has seen since win. */
export async function loadLastUse (store: GitObjectStore, file: string): Promise<void> {
  const bytes = await readFileCapped(file, MAX_LAST_USE_BYTES, file).catch(() => null)
  if (bytes === null) return
  let doc: unknown
  try {
    doc = JSON.parse(bytes.toString('utf8'))
  } catch {
    log('ignoring unreadable %s', file)
    return
  }
  const at = (doc as { lastUse?: unknown })?.lastUse
  if (at === null || typeof at !== 'object') return
  for (const [k, v] of Object.entries(at as Record<string, unknown>)) {
    if (typeof v === 'number' && Number.isFinite(v) && !store.lastUse.has(k)) store.lastUse.set(k, v)
  }
}

/** Persists the store's recency map (a small file, rewritten atomically). */
export async function saveLastUse (store: GitObjectStore, file: string): Promise<void> {
  const doc = { format: 1, lastUse: Object.fromEntries(store.lastUse) }
  await writeFileAtomic(file, JSON.stringify(doc), { mode: 0o600 })
}

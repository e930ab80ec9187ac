/**
 * Keeps the object store within its quota: the daemon runs a collection 30
 * seconds after it opens the store (not during a mount's first reads), then whenever a twentieth of the quota was
 * written since the last one, and at least every 10 minutes; each pins what is
 * mounted and accepted (repo/store-pins.ts) and evicts the least recently used
 * rest (store/eviction.ts). It also persists the store's recency map every
 * minute and when the daemon stops, so that LRU order survives a restart.
 * On the same 30-second check it merges small packs once there are too many
 * (store/pack-compact.ts): more than 16 when no pack was written since the
 * last check, more than 64 while a fetch writes them; never during a
 * collection.
 *
 * `cacheStats` and `cacheGc` also serve `gtfs cache` when no daemon runs.
 */
import { join } from 'node:path'
import type { Paths, Settings } from '../config.ts'
import { UsageError } from '../errors.ts'
import { logger, warn } from '../log.ts'
import type { Session } from '../publish/session.ts'
import { storePins, type RepoPins } from '../repo/store-pins.ts'
import { collectGarbage, loadLastUse, saveLastUse, storeUsage, type GcResult, type StoreUsage } from '../store/eviction.ts'
import type { GitObjectStore } from '../store/object-store.ts'
import { unpackedFiles } from '../store/unpacked-blob.ts'
import { compactPacks, compactionDue, type CompactResult } from '../store/pack-compact.ts'
import type { ObjectId } from '../types.ts'

const log = logger('gtfs:daemon:store-keeper')

export interface CacheStats {
  objectsDir: string
  quotaBytes: number
  usage: StoreUsage
  repos: RepoPins[]
  documents: number
  /** what the pack writer did since the daemon started (null: no daemon) */
  written: { packs: number, packedObjects: number, packedBytes: number, looseObjects: number } | null
  /** compactions of small packs the daemon ran, and the packs they merged (null: no daemon) */
  compacted: { runs: number, packs: number } | null
  /**
   * Plain copies of large blobs (cache/unpacked: inflated from packs, or
   * copied for the kernel's passthrough reads), under their own budget
   * (unpackedBudgetBytes), outside the store's quota
   */
  unpacked: { dir: string, files: number, bytes: number, budgetBytes: number }
}

export interface CacheGcResult extends GcResult { quotaBytes: number }

export function lastUseFile (paths: Paths): string {
  return join(paths.state, 'store-last-use.json')
}

async function unpackedUsage (dir: string, budgetBytes: number): Promise<CacheStats['unpacked']> {
  const files = await unpackedFiles(dir)
  return { dir, files: files.length, bytes: files.reduce((n, f) => n + f.size, 0), budgetBytes }
}

export async function cacheStats (store: GitObjectStore, session: Session, settings: Settings, cacheDir: string, mounted: ObjectId[] = []): Promise<CacheStats> {
  // Stats describe the store on disk: what is held in memory for the next pack goes there first.
  await store.flush()
  const { pins, repos, documents } = await storePins(store, session, mounted)
  return {
    objectsDir: store.objectsDir,
    quotaBytes: settings.storeQuotaBytes,
    usage: await storeUsage(store, pins),
    repos,
    documents,
    written: store.held.flushed,
    compacted: null,
    unpacked: await unpackedUsage(join(cacheDir, 'unpacked'), settings.unpackedBudgetBytes)
  }
}

/**
 * GTFS_STORE_KEEP_RECENT_MS: objects read (or written) within this many ms are
 * never evicted, a reader may be using them (default 60 000; tests set 0).
 */
export function keepRecentMs (env: NodeJS.ProcessEnv = process.env): number {
  const v = env.GTFS_STORE_KEEP_RECENT_MS
  if (v === undefined || v.trim() === '') return 60_000
  const n = Number(v)
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError('EBADCONFIG', `GTFS_STORE_KEEP_RECENT_MS must be a whole number of milliseconds, not ${JSON.stringify(v)}`)
  return n
}

export async function cacheGc (store: GitObjectStore, session: Session, quotaBytes: number, mounted: ObjectId[] = []): Promise<CacheGcResult> {
  const { pins } = await storePins(store, session, mounted)
  return { ...await collectGarbage(store, { maxBytes: quotaBytes, pins, recentMs: keepRecentMs() }), quotaBytes }
}

/** every this often, ms: is a collection due? */
const CHECK_MS = 30_000
/** a collection at least this often, ms */
const EVERY_MS = 10 * 60_000
/** small packs that start a compaction (pack-compact.ts): when no pack was written since the last check, and when some were */
const COMPACT_IDLE = 16
const COMPACT_BUSY = 64

export class StoreKeeper {
  private timers: NodeJS.Timeout[] = []
  private lastGc = 0
  private writtenAtGc = 0
  private running: Promise<CacheGcResult> | null = null
  private compacting: Promise<CompactResult | null> | null = null
  /** bytes the pack writer had written at the last compaction check (`written`) */
  private writtenAtCheck = -1
  /** packs merged since the daemon started */
  readonly compacted = { runs: 0, packs: 0 }
  /** what the last save wrote: skip the next one when nothing changed */
  private saved = { newest: 0, size: -1 }

  constructor (private readonly o: { store: GitObjectStore, session: Session, settings: Settings, paths: Paths, mounted: () => ObjectId[] }) {}

  async start (): Promise<void> {
    await loadLastUse(this.o.store, lastUseFile(this.o.paths))
    const first = setTimeout(() => { void this.maybeGc(true) }, CHECK_MS)
    const check = setInterval(() => { void this.maybeGc(false).then(async () => { await this.maybeCompact() }) }, CHECK_MS)
    const save = setInterval(() => { void this.save() }, 60_000)
    this.timers = [first, check, save]
    for (const t of this.timers) t.unref()
  }

  async stop (): Promise<void> {
    for (const t of this.timers) clearTimeout(t)
    this.timers = []
    await this.running?.catch(() => {})
    await this.compacting?.catch(() => {})
    await this.save()
  }

  async stats (): Promise<CacheStats> {
    return { ...await cacheStats(this.o.store, this.o.session, this.o.settings, this.o.paths.cache, this.o.mounted()), compacted: { ...this.compacted } }
  }

  /** A collection now (one at a time), to `maxBytes` or the quota. */
  async gc (maxBytes?: number): Promise<CacheGcResult> {
    while (this.running !== null || this.compacting !== null) {
      await this.running?.catch(() => {})
      await this.compacting?.catch(() => {})
    }
    this.lastGc = Date.now()
    this.writtenAtGc = this.written()
    this.running = cacheGc(this.o.store, this.o.session, maxBytes ?? this.o.settings.storeQuotaBytes, this.o.mounted())
    try {
      return await this.running
    } finally {
      this.running = null
    }
  }

  private written (): number {
    return this.o.store.held.flushed?.packedBytes ?? 0
  }

  private async maybeGc (force: boolean): Promise<void> {
    const quota = this.o.settings.storeQuotaBytes
    const due = force || Date.now() - this.lastGc > EVERY_MS || this.written() - this.writtenAtGc > quota / 20
    if (!due || this.running !== null) return
    try {
      const r = await this.gc()
      if (r.freedBytes > 0) log('freed %d bytes', r.freedBytes)
      if (r.overQuota) warn(`the object store holds ${r.after.totalBytes} bytes, over its quota of ${quota}: the rest is mounted, accepted or in use (gtfs cache stats)`)
    } catch (err) {
      warn(`store collection: ${(err as Error).message}`)
    }
  }

  /** Merges small packs when there are too many (pack-compact.ts), after a collection under way. */
  async maybeCompact (): Promise<void> {
    while (this.running !== null) await this.running.catch(() => {})
    // While packs are being written (a fetch runs) only past a higher count:
    // merging the 40 packs of a fetch 30 s in rewrote 242 MB under it and
    // slowed it by 2 s (swarm-4 by hand, 32.0 -> 34.1 s).
    const written = this.written()
    const idle = written === this.writtenAtCheck
    this.writtenAtCheck = written
    const o = { maxSmall: idle ? COMPACT_IDLE : COMPACT_BUSY }
    if (this.compacting !== null || compactionDue(this.o.store, o).length < 2) return
    this.compacting = compactPacks(this.o.store, o)
    try {
      const r = await this.compacting
      if (r !== null) {
        this.compacted.runs++
        this.compacted.packs += r.merged
      }
    } catch (err) {
      warn(`pack compaction: ${(err as Error).message}`)
    } finally {
      this.compacting = null
    }
  }

  private async save (): Promise<void> {
    const map = this.o.store.lastUse
    let newest = 0
    for (const v of map.values()) if (v > newest) newest = v
    if (newest === this.saved.newest && map.size === this.saved.size) return
    await saveLastUse(this.o.store, lastUseFile(this.o.paths)).then(
      () => { this.saved = { newest, size: map.size } },
      (err: Error) => { log('saving recency: %s', err.message) })
  }
}

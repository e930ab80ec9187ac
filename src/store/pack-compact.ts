/**
 * Compaction of small packs. The pack writer makes a pack of each batch it
 * receives (about one a second while a swarm fetch runs: 121 packs after a
 * two-minute fetch at 2 MiB/s). Each pack keeps a file descriptor, and a
 * lookup of an id the store lacks (every id a fetch asks about) searches
 * every pack's index in turn: 1.9 s of that fetch's main thread. So when more
 * than `maxSmall` packs are under `smallBytes`, the smallest of them are
 * copied into one pack of at most `mergedBytes`, and retired.
 *
 * - Entries are copied as stored, read in pack order in large chunks: no
 *   inflating, no deflating. Each entry's bytes are checked against the
 *   CRC-32 in its index (EBADCRC, as git checks before it reuses packed data),
 *   and that CRC goes into the new index. An id in two packs is copied once.
 * - Packs that hold deltas (git's own) are left alone: a delta's base offset
 *   would move. One is found by reading it; it is not chosen again. Nor is a
 *   pack with a bad entry (EBADCRC: reads of it find out what is wrong).
 * - Crash safety as the pack writer's (installPack): the new pack and its
 *   index are durable and readable before the old ones leave. A crash in
 *   between leaves objects twice, which costs disk, not correctness.
 * - The old packs leave as eviction removes a pack (eviction.ts's
 *   withdrawPack): out of sight (.idx first), out of the store's list, their
 *   file handles closed after `graceMs` so that reads under way finish. The
 *   new pack's recency is the newest of theirs.
 */
import { createHash } from 'node:crypto'
import { open, unlink } from 'node:fs/promises'
import { basename } from 'node:path'
import { writevAll } from '../atomic-file.ts'
import { IntegrityError } from '../errors.ts'
import { crc32 } from '../git/crc32.ts'
import { parsePackEntryHeader } from '../git/pack-entry.ts'
import { buildIndex, packHeader, type IndexEntry } from '../git/pack-write.ts'
import { logger } from '../log.ts'
import { withdrawPack } from './eviction.ts'
import type { GitObjectStore } from './object-store.ts'
import type { PackFile } from './pack-file.ts'
import { installPack, tempPackName } from './pack-writer.ts'

const log = logger('gtfs:store:pack-compact')

export interface CompactOptions {
  /** a pack under this many bytes is small (default 64 MiB) */
  smallBytes?: number
  /** compaction starts when more than this many packs are small (default 16) */
  maxSmall?: number
  /** the new pack holds at most this many bytes of old packs, unless two are bigger (default 256 MiB) */
  mergedBytes?: number
  /** an old pack's file handle stays open this long for reads under way (default 120 s) */
  graceMs?: number
}

export interface CompactResult {
  /** packs merged and retired */
  merged: number
  objects: number
  /** bytes of the new pack */
  bytes: number
  pack: string
}

/** read this much of an old pack at once */
const CHUNK = 1 << 20
/** write this much of the new pack at once */
const OUT = 1 << 20

/** packs (by path) found to hold deltas or a bad entry: never chosen again */
const leftAlone = new Set<string>()

class DeltaFound extends Error {}

/** The small packs a compaction would merge now (smallest first); empty when none is due. */
export function compactionDue (store: GitObjectStore, o: CompactOptions = {}): PackFile[] {
  const smallBytes = o.smallBytes ?? 64 * 2 ** 20
  const mergedBytes = o.mergedBytes ?? 256 * 2 ** 20
  const small = store.packList.filter(p => p.size < smallBytes && !leftAlone.has(p.path))
  if (small.length <= (o.maxSmall ?? 16)) return []
  small.sort((a, b) => a.size - b.size)
  const chosen: PackFile[] = []
  let total = 0
  for (const p of small) {
    if (chosen.length >= 2 && total + p.size > mergedBytes) break
    chosen.push(p)
    total += p.size
  }
  return chosen
}

/** Merges small packs into one when compactionDue says so; null when it does not. */
export async function compactPacks (store: GitObjectStore, o: CompactOptions = {}): Promise<CompactResult | null> {
  const chosen = compactionDue(store, o)
  if (chosen.length < 2) return null
  // what goes in: each id once, each pack's entries in pack order
  const seen = new Set<string>()
  const plans = chosen.map(pack => {
    const entries: Array<{ i: number, offset: number }> = []
    for (let i = 0; i < pack.index.count; i++) {
      const id = pack.index.idAt(i)
      if (seen.has(id)) continue
      seen.add(id)
      entries.push({ i, offset: pack.index.offsetAt(i) })
    }
    entries.sort((a, b) => a.offset - b.offset)
    return { pack, entries }
  })
  const tmp = tempPackName(store.objectsDir)
  const fh = await open(`${tmp}-pack`, 'wx', 0o444)
  const index: IndexEntry[] = []
  let trailer: Buffer
  let at = 0
  try {
    const sha = createHash('sha1')
    const out = Buffer.allocUnsafe(OUT)
    let used = 0
    const write = async (b: Buffer): Promise<void> => {
      sha.update(b)
      at += b.length
      if (used + b.length > OUT) {
        if (used > 0) await writevAll(fh, [out.subarray(0, used)])
        used = 0
        if (b.length > OUT) { await writevAll(fh, [b]); return }
      }
      b.copy(out, used)
      used += b.length
    }
    await write(packHeader(seen.size))
    const win = Buffer.allocUnsafe(CHUNK)
    for (const { pack, entries } of plans) {
      let winStart = 0
      let winEnd = 0
      let view = win.subarray(0, 0)
      for (const { i, offset } of entries) {
        const end = pack.index.entryEnd(offset, pack.size)
        if (offset < winStart || end > winEnd) {
          const len = Math.min(Math.max(end - offset, CHUNK), pack.size - 20 - offset)
          view = len <= CHUNK ? win.subarray(0, len) : Buffer.allocUnsafe(len)
          await pack.readExactly(view, offset)
          winStart = offset
          winEnd = offset + len
        }
        const raw = view.subarray(offset - winStart, end - winStart)
        const crc = pack.index.crcAt(i)
        if (crc32(raw) !== crc) {
          leftAlone.add(pack.path)
          throw new IntegrityError(`${pack.path}: entry at ${offset} does not match its CRC-32 in the index`, { code: 'EBADCRC' })
        }
        const type = parsePackEntryHeader(raw, offset).type
        if (type === 'ofs-delta' || type === 'ref-delta') { leftAlone.add(pack.path); throw new DeltaFound() }
        index.push({ id: Buffer.from(pack.index.idAt(i), 'hex'), crc, offset: at })
        await write(raw)
      }
    }
    trailer = sha.digest()
    await writevAll(fh, used > 0 ? [out.subarray(0, used), trailer] : [trailer])
    await fh.sync()
  } catch (err) {
    await fh.close().catch(() => {})
    await unlink(`${tmp}-pack`).catch(() => {})
    if (err instanceof DeltaFound) return null
    throw err
  }
  await fh.close()
  const { packPath, idxPath } = await installPack(tmp, buildIndex(index, trailer), trailer.toString('hex'))
  await store.adoptPack(packPath, idxPath)
  let recent = 0
  for (const p of chosen) recent = Math.max(recent, store.lastUse.get(basename(p.path)) ?? 0)
  for (const p of chosen) {
    // the same entries in the same order make the same pack: that one stays
    if (p.path === packPath) continue
    await (await withdrawPack(store, p, o.graceMs ?? 120_000))()
  }
  if (recent > 0) store.lastUse.set(basename(packPath), recent)
  const bytes = at + 20
  log('merged %d packs into %s: %d objects, %d bytes', chosen.length, basename(packPath), index.length, bytes)
  return { merged: chosen.length, objects: index.length, bytes, pack: packPath }
}

/**
 * Writing packs (gitformat-pack(5)): a version 2 pack of whole (non-delta)
 * objects and its version 2 index. Pure: it is handed each object's deflated
 * bytes and returns the files' bytes; the store does the I/O.
 *
 *   pack: "PACK" | version 2 | count | entries | sha1 of all before
 *   entry: type and inflated size in a varint (4 bits of size in the first
 *          byte, 7 in each next one) | zlib stream
 *   idx:  ff744f63 | version 2 | fan-out[256] | sorted ids | crc32 of each
 *         entry's packed bytes | 31-bit offsets (MSB: index into the 64-bit
 *         table) | 64-bit offsets | pack sha1 | sha1 of all before
 */
import { createHash } from 'node:crypto'
import type { ObjectId, ObjectType } from '../types.ts'
import { crc32 } from './crc32.ts'

const TYPE_CODE: Record<ObjectType, number> = { commit: 1, tree: 2, blob: 3, tag: 4 }

export interface PackInput {
  id: ObjectId
  type: ObjectType
  /** inflated size */
  size: number
  /** zlib stream of the object's data (no "<type> <size>\0" header in packs) */
  deflated: Buffer
}

export interface BuiltPack {
  /** the pack's own checksum, hex: its name is pack-<checksum>.pack */
  checksum: string
  pack: Buffer[]
  packBytes: number
  idx: Buffer
}

function entryHeader (type: ObjectType, size: number): Buffer {
  const out: number[] = []
  let c = (TYPE_CODE[type] << 4) | (size & 0x0f)
  let rest = Math.floor(size / 16)
  while (rest > 0) {
    out.push(c | 0x80)
    c = rest & 0x7f
    rest = Math.floor(rest / 128)
  }
  out.push(c)
  return Buffer.from(out)
}

/** An entry of a pack being built: its id (raw), the CRC-32 of its packed bytes, its offset. */
export interface IndexEntry { id: Buffer, crc: number, offset: number }

/** The pack and index of `objects` (unique ids; their order is the pack's order). */
export function buildPack (objects: PackInput[]): BuiltPack {
  const sha = createHash('sha1')
  const pack: Buffer[] = []
  const head = packHeader(objects.length)
  pack.push(head)
  sha.update(head)
  let offset = 12
  const entries: IndexEntry[] = []
  for (const o of objects) {
    const h = entryHeader(o.type, o.size)
    entries.push({ id: Buffer.from(o.id, 'hex'), crc: crc32(o.deflated, crc32(h)), offset })
    pack.push(h, o.deflated)
    sha.update(h)
    sha.update(o.deflated)
    offset += h.length + o.deflated.length
  }
  const trailer = sha.digest()
  pack.push(trailer)
  return { checksum: trailer.toString('hex'), pack, packBytes: offset + 20, idx: buildIndex(entries, trailer) }
}

/** A pack's first 12 bytes: "PACK", version 2, the number of entries. */
export function packHeader (count: number): Buffer {
  const head = Buffer.alloc(12)
  head.write('PACK', 0, 'latin1')
  head.writeUInt32BE(2, 4)
  head.writeUInt32BE(count, 8)
  return head
}

/** The version 2 index of a pack's `entries` (unique ids, any order: sorted here) whose checksum is `trailer`. */
export function buildIndex (entries: IndexEntry[], trailer: Buffer): Buffer {
  entries.sort((a, b) => Buffer.compare(a.id, b.id))
  const n = entries.length
  const large = entries.filter(e => e.offset >= 0x80000000).length
  const idx = Buffer.alloc(8 + 1024 + n * 28 + large * 8 + 40)
  idx.writeUInt32BE(0xff744f63, 0)
  idx.writeUInt32BE(2, 4)
  const fanout = new Uint32Array(256)
  for (const e of entries) fanout[e.id[0]]++
  let sum = 0
  for (let i = 0; i < 256; i++) { sum += fanout[i]; idx.writeUInt32BE(sum, 8 + i * 4) }
  const idsAt = 8 + 1024
  const crcAt = idsAt + n * 20
  const offAt = crcAt + n * 4
  const largeAt = offAt + n * 4
  let nextLarge = 0
  entries.forEach((e, i) => {
    e.id.copy(idx, idsAt + i * 20)
    idx.writeUInt32BE(e.crc, crcAt + i * 4)
    if (e.offset < 0x80000000) idx.writeUInt32BE(e.offset, offAt + i * 4)
    else {
      idx.writeUInt32BE((0x80000000 | nextLarge) >>> 0, offAt + i * 4)
      idx.writeUInt32BE(Math.floor(e.offset / 2 ** 32), largeAt + nextLarge * 8)
      idx.writeUInt32BE(e.offset >>> 0, largeAt + nextLarge * 8 + 4)
      nextLarge++
    }
  })
  const end = largeAt + large * 8
  trailer.copy(idx, end)
  createHash('sha1').update(idx.subarray(0, end + 20)).digest().copy(idx, end + 20)
  return idx
}

/**
 * Pack index version 2 (gitformat-pack(5)): fan-out table, sorted ids, CRCs,
 * 31-bit offsets with an overflow table of 64-bit offsets. Pure: it is handed
 * the whole .idx file.
 */
import { IntegrityError } from '../errors.ts'
import type { ObjectId } from '../types.ts'

const MAGIC = 0xff744f63 // "\377tOc"

export class PackIndex {
  readonly count: number
  private readonly buf: Buffer
  private readonly idsAt = 8 + 256 * 4
  private readonly offsetsAt: number
  private readonly largeAt: number
  /** every entry offset, ascending, then the end of the last entry (pack size − 20) */
  private sortedOffsets?: Float64Array

  constructor (buf: Buffer, readonly name = 'pack') {
    if (buf.length < 8 + 1024 + 40 || buf.readUInt32BE(0) !== MAGIC || buf.readUInt32BE(4) !== 2) {
      throw new IntegrityError(`${name}: not a version 2 pack index`, { code: 'EMALFORMED' })
    }
    this.buf = buf
    this.count = buf.readUInt32BE(8 + 255 * 4)
    this.offsetsAt = this.idsAt + this.count * 24 // ids (20) + crc (4)
    this.largeAt = this.offsetsAt + this.count * 4
    if (this.largeAt + 40 > buf.length) throw new IntegrityError(`${name}: truncated pack index`, { code: 'EMALFORMED' })
  }

  /** Offset of `id` in the pack, or -1. */
  find (id: ObjectId): number {
    return this.findKey(Buffer.from(id, 'hex'))
  }

  /**
   * Offset of the object whose raw 20-byte id is `key`, or -1. The search
   * compares the first four bytes as integers and calls into Buffer.compare
   * only on a tie: a store of many packs looks an id up in each of them.
   */
  findKey (key: Buffer): number {
    const i = this.positionOf(key)
    return i < 0 ? -1 : this.offsetAt(i)
  }

  /** Where the raw 20-byte id `key` sits in the sorted id table, or -1 (see findKey). */
  positionOf (key: Buffer): number {
    const first = key[0]
    let lo = first === 0 ? 0 : this.buf.readUInt32BE(8 + (first - 1) * 4)
    let hi = this.buf.readUInt32BE(8 + first * 4)
    const b = this.buf
    const head = key.readUInt32BE(0)
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const at = this.idsAt + mid * 20
      const h = b.readUInt32BE(at)
      const c = h !== head ? (head > h ? 1 : -1) : key.compare(b, at + 4, at + 20, 4, 20)
      if (c === 0) return mid
      if (c > 0) lo = mid + 1
      else hi = mid
    }
    return -1
  }

  /** The sorted table of raw 20-byte ids, entry i at i * 20 (a view of the index, not a copy). */
  idTable (): Buffer {
    return this.buf.subarray(this.idsAt, this.idsAt + this.count * 20)
  }

  idAt (i: number): ObjectId {
    const at = this.idsAt + i * 20
    return this.buf.toString('hex', at, at + 20)
  }

  /** The CRC-32 of the packed bytes (header and zlib stream) of the entry at position `i`. */
  crcAt (i: number): number {
    return this.buf.readUInt32BE(this.idsAt + this.count * 20 + i * 4)
  }

  offsetAt (i: number): number {
    const v = this.buf.readUInt32BE(this.offsetsAt + i * 4)
    if (v < 0x80000000) return v
    const at = this.largeAt + (v & 0x7fffffff) * 8
    return this.buf.readUInt32BE(at) * 2 ** 32 + this.buf.readUInt32BE(at + 4)
  }

  /** Where the entry starting at `offset` ends, given the pack's size. */
  entryEnd (offset: number, packSize: number): number {
    if (this.sortedOffsets === undefined) {
      const all = new Float64Array(this.count + 1)
      for (let i = 0; i < this.count; i++) all[i] = this.offsetAt(i)
      all[this.count] = packSize - 20
      all.sort()
      this.sortedOffsets = all
    }
    const s = this.sortedOffsets
    let lo = 0
    let hi = s.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (s[mid] <= offset) lo = mid + 1
      else hi = mid
    }
    return s[lo]
  }
}

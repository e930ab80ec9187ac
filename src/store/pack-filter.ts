/**
 * A Bloom filter over the ids of every pack a store reads: "in no pack" at
 * the cost of three bit tests, instead of a binary search in each pack's
 * index. Most lookups during a fetch are of that kind (is this id here
 * already? is this one I am about to store?), and a store holds many packs:
 * up to 64 small ones between compactions (pack-compact.ts), and one per
 * publish or fetch otherwise. Measured in a cold read of the bench's wide
 * tree, those searches were about 0.3 s of the reader's main thread
 * (`positionOf`, `findKey`), and 1.9 s in a 2-minute fetch that had made
 * 121 packs.
 *
 * Ids are SHA-1 hashes: three 32-bit words of each serve as its three bit
 * positions. 16 bits per id make about 0.5% false positives, which only cost
 * the search this saves. A pack that leaves the store leaves its bits set:
 * that too costs only false positives. The filter is rebuilt from the live
 * packs when it fills, or when most of what it holds has left.
 */
import type { PackIndex } from '../git/pack-index.ts'

const BITS_PER_ID = 16
const MIN_BITS = 2 ** 20

export class PackIdFilter {
  private bits = new Uint32Array(0)
  private mask = 0
  /** ids whose bits are set (packs gone included) */
  private added = 0

  /** Bytes the filter takes. */
  get bytes (): number { return this.bits.byteLength }

  /** Sets the bits of every id of `index`; false when the filter is full (rebuild it). */
  add (index: PackIndex): boolean {
    if ((this.added + index.count) * BITS_PER_ID > this.bits.length * 32) return false
    const ids = index.idTable()
    const bits = this.bits
    const mask = this.mask
    for (let at = 0; at < ids.length; at += 20) {
      const a = ids.readUInt32BE(at) & mask
      const b = ids.readUInt32BE(at + 4) & mask
      const c = ids.readUInt32BE(at + 8) & mask
      bits[a >>> 5] |= 1 << (a & 31)
      bits[b >>> 5] |= 1 << (b & 31)
      bits[c >>> 5] |= 1 << (c & 31)
    }
    this.added += index.count
    return true
  }

  /** Starts over, sized for `live` ids and as many again to come, holding `indexes`. */
  rebuild (indexes: Iterable<PackIndex>, live: number): void {
    let n = MIN_BITS
    while (n < 2 * live * BITS_PER_ID) n *= 2
    this.bits = new Uint32Array(n / 32)
    this.mask = n - 1
    this.added = 0
    for (const index of indexes) this.add(index)
  }

  /** Whether more than half of the ids it holds are of packs gone (`live`: the ids of the packs left). */
  stale (live: number): boolean {
    return this.added > 2 * live + 65_536
  }

  /** False: the raw 20-byte id `key` is in none of the packs added. True: it may be. */
  mightHave (key: Buffer): boolean {
    const bits = this.bits
    const mask = this.mask
    if (bits.length === 0) return false
    const a = key.readUInt32BE(0) & mask
    const b = key.readUInt32BE(4) & mask
    const c = key.readUInt32BE(8) & mask
    return (bits[a >>> 5] & (1 << (a & 31))) !== 0 && (bits[b >>> 5] & (1 << (b & 31))) !== 0 && (bits[c >>> 5] & (1 << (c & 31))) !== 0
  }
}

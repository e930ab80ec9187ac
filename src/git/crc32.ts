/**
 * CRC-32 (the zlib/PNG polynomial), as a pack index v2 records for each
 * entry's packed bytes (gitformat-pack(5)). zlib.crc32 arrived in Node 20.15;
 * a table for older 20.x.
 */
import * as zlib from 'node:zlib'

const nativeCrc = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32
let table: Uint32Array | undefined

/** The CRC-32 of `data`, continuing from `value` (the CRC of what came before). */
export function crc32 (data: Uint8Array, value = 0): number {
  if (nativeCrc !== undefined) return nativeCrc(data, value)
  if (table === undefined) {
    table = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      table[n] = c >>> 0
    }
  }
  let c = ~value >>> 0
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8)
  return ~c >>> 0
}

/**
 * Pack entry headers (gitformat-pack(5)): type and inflated size in a varint,
 * then for OFS_DELTA a negative offset to the base, for REF_DELTA the base id.
 */
import { IntegrityError } from '../errors.ts'
import type { ObjectType } from '../types.ts'

export const PACK_TYPES: Record<number, ObjectType | 'ofs-delta' | 'ref-delta'> = {
  1: 'commit', 2: 'tree', 3: 'blob', 4: 'tag', 6: 'ofs-delta', 7: 'ref-delta'
}

export interface PackEntryHeader {
  type: ObjectType | 'ofs-delta' | 'ref-delta'
  /** inflated size of the entry's data (for deltas, of the delta) */
  size: number
  /** bytes of header, including the delta base reference */
  headerLength: number
  /** OFS_DELTA: absolute offset of the base entry */
  baseOffset?: number
  /** REF_DELTA: id of the base object */
  baseId?: string
}

/** Parses the header at the start of `buf`, which holds the entry from its first byte. */
export function parsePackEntryHeader (buf: Buffer, offset: number): PackEntryHeader {
  let pos = 0
  const need = (n: number): void => {
    if (pos + n > buf.length) throw new IntegrityError(`pack entry at ${offset}: truncated header`, { code: 'EMALFORMED' })
  }
  need(1)
  let c = buf[pos++]
  const type = PACK_TYPES[(c >> 4) & 7]
  if (type === undefined) throw new IntegrityError(`pack entry at ${offset}: bad type ${(c >> 4) & 7}`, { code: 'EMALFORMED' })
  let size = c & 15
  let mul = 16
  while (c & 0x80) {
    need(1)
    c = buf[pos++]
    size += (c & 0x7f) * mul
    mul *= 128
    if (mul > 2 ** 56) throw new IntegrityError(`pack entry at ${offset}: size overflows`, { code: 'EMALFORMED' })
  }
  const header: PackEntryHeader = { type, size, headerLength: pos }
  if (type === 'ofs-delta') {
    need(1)
    c = buf[pos++]
    let rel = c & 0x7f
    while (c & 0x80) {
      need(1)
      c = buf[pos++]
      rel = (rel + 1) * 128 + (c & 0x7f)
    }
    if (rel <= 0 || rel > offset) throw new IntegrityError(`pack entry at ${offset}: delta base out of range`, { code: 'EMALFORMED' })
    header.baseOffset = offset - rel
  } else if (type === 'ref-delta') {
    need(20)
    header.baseId = buf.toString('hex', pos, pos + 20)
    pos += 20
  }
  header.headerLength = pos
  return header
}

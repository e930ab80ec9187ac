/**
 * Git delta format (gitformat-pack(5), "Deltified representation"): two size
 * varints, then copy-from-base and insert instructions.
 */
import { IntegrityError } from '../errors.ts'

function bad (why: string): never {
  throw new IntegrityError(`bad delta: ${why}`, { code: 'EMALFORMED' })
}

/** Reads the two leading size varints: base size, result size, and where instructions start. */
export function deltaSizes (delta: Uint8Array): { baseSize: number, resultSize: number, start: number } {
  let pos = 0
  const varint = (): number => {
    let v = 0
    let mul = 1
    let c: number
    do {
      if (pos >= delta.length) bad('truncated size')
      c = delta[pos++]
      v += (c & 0x7f) * mul
      mul *= 128
    } while (c & 0x80)
    return v
  }
  const baseSize = varint()
  const resultSize = varint()
  return { baseSize, resultSize, start: pos }
}

export function applyDelta (base: Buffer, delta: Buffer, maxResult = Number.MAX_SAFE_INTEGER): Buffer {
  const { baseSize, resultSize, start } = deltaSizes(delta)
  if (baseSize !== base.length) bad(`base is ${base.length} bytes, delta expects ${baseSize}`)
  if (resultSize > maxResult) bad(`result of ${resultSize} bytes exceeds the cap of ${maxResult}`)
  const out = Buffer.allocUnsafe(resultSize)
  let pos = start
  let o = 0
  while (pos < delta.length) {
    const cmd = delta[pos++]
    if (cmd & 0x80) {
      let off = 0
      let len = 0
      if (cmd & 0x01) off = delta[pos++]
      if (cmd & 0x02) off |= delta[pos++] << 8
      if (cmd & 0x04) off |= delta[pos++] << 16
      if (cmd & 0x08) off += delta[pos++] * 0x1000000
      if (cmd & 0x10) len = delta[pos++]
      if (cmd & 0x20) len |= delta[pos++] << 8
      if (cmd & 0x40) len |= delta[pos++] << 16
      if (len === 0) len = 0x10000
      if (pos > delta.length || off + len > base.length || o + len > resultSize) bad('copy out of range')
      base.copy(out, o, off, off + len)
      o += len
    } else if (cmd !== 0) {
      if (pos + cmd > delta.length || o + cmd > resultSize) bad('insert out of range')
      delta.copy(out, o, pos, pos + cmd)
      pos += cmd
      o += cmd
    } else {
      bad('reserved instruction 0')
    }
  }
  if (o !== resultSize) bad(`result is ${o} bytes, delta promised ${resultSize}`)
  return out
}

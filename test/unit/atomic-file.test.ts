import assert from 'node:assert/strict'
import type { FileHandle } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { writevAll } from '../../src/atomic-file.ts'

/** A FileHandle whose writev takes at most `max` bytes per call, as a full pipe or disk may. */
function shortWriter (max: number): { fh: FileHandle, out: () => Buffer, calls: () => number } {
  const parts: Buffer[] = []
  let calls = 0
  const fh = {
    async writev (bufs: Buffer[]) {
      calls++
      let left = max
      for (const b of bufs) {
        const n = Math.min(left, b.length)
        parts.push(Buffer.from(b.subarray(0, n)))
        left -= n
        if (n < b.length) break
      }
      return { bytesWritten: max - left, buffers: bufs }
    }
  } as unknown as FileHandle
  return { fh, out: () => Buffer.concat(parts), calls: () => calls }
}

describe('writevAll', () => {
  const bufs = Array.from({ length: 2500 }, (_, i) => Buffer.alloc(i % 7, i & 0xff)) // empty ones too
  const whole = Buffer.concat(bufs)

  it('writes every byte in order through short writes that split buffers', async () => {
    for (const max of [1, 5, 13, 4096, whole.length]) {
      const w = shortWriter(max)
      await writevAll(w.fh, bufs)
      assert.deepEqual(w.out(), whole, `max ${max}`)
    }
  })

  it('passes at most 1,000 buffers per call and makes no more calls than needed', async () => {
    const w = shortWriter(Number.MAX_SAFE_INTEGER)
    await writevAll(w.fh, bufs)
    assert.equal(w.calls(), 3)
    assert.deepEqual(w.out(), whole)
  })
})

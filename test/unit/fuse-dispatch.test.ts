import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fillStat } from '../../src/fs/fuse-dispatch.ts'

const t = new Date(1_700_000_000_123)
const lohi = (ints: Uint32Array, at: number): number => ints[at] + ints[at + 1] * 2 ** 32

test('fillStat lays a stat out as fuse-native does: 64-bit size, blocks and times as two words', () => {
  const ints = fillStat(new Uint32Array(18), {
    mode: 0o100755, uid: 1000, gid: 100, size: 5 * 2 ** 32 + 7, nlink: 3, ino: 42, rdev: 0x0801, blksize: 4096, blocks: 2 ** 33, atime: t, mtime: t, ctime: t
  })
  assert.deepEqual([ints[0], ints[1], ints[2]], [0o100755, 1000, 100])
  assert.equal(lohi(ints, 3), 5 * 2 ** 32 + 7)
  assert.deepEqual([ints[5], ints[6], ints[7], ints[8], ints[9]], [0, 3, 42, 0x0801, 4096])
  assert.equal(lohi(ints, 10), 2 ** 33)
  for (const at of [12, 14, 16]) assert.equal(lohi(ints, at), t.getTime())
})

test('fillStat reuses its array: nothing of the previous stat survives; no stat is fuse-native\'s empty one', () => {
  const ints = new Uint32Array(18).fill(0xffffffff)
  fillStat(ints, { mode: 0o40755, uid: 0, gid: 0, size: 0, nlink: 0, ino: 1, atime: t, mtime: t, ctime: t })
  assert.equal(ints[6], 1, 'nlink 0 is reported as 1, as fuse-native does')
  assert.deepEqual([ints[3], ints[4], ints[5], ints[8], ints[9], ints[10], ints[11]], [0, 0, 0, 0, 0, 0, 0])
  const before = Date.now()
  fillStat(ints, undefined)
  assert.deepEqual([...ints.subarray(0, 12)], [0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0])
  assert.ok(lohi(ints, 14) >= before)
})

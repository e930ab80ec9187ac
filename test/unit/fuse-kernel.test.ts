/**
 * The /dev/fuse session's pure parts: the protocol's layouts (fuse-kernel.ts)
 * and the node table (dev-fuse-nodes.ts). The session itself is exercised by
 * every mount test that runs as root (test/fuse/).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { FuseStat } from 'fuse-native'
import { childPath, NodeTable } from '../../src/fs/dev-fuse-nodes.ts'
import { cstring, direntSize, direntType, ENTRY_OUT, FOPEN_PASSTHROUGH, INIT, INIT2_PASSTHROUGH, putDirent, putEntry, putInitOut, putOpenOut, putOutHeader, readHeader, u64 } from '../../src/fs/fuse-kernel.ts'

const stat = (over: Partial<FuseStat> = {}): FuseStat => {
  const t = new Date(1_700_000_000_123)
  return { mode: 0o100644, uid: 0, gid: 0, size: 5 * 2 ** 32 + 7, nlink: 1, ino: 42, atime: t, mtime: t, ctime: t, ...over }
}

test('a request header and its name argument read as the kernel lays them out', () => {
  const b = Buffer.alloc(48)
  b.writeUInt32LE(48, 0)
  b.writeUInt32LE(1, 4)
  b.writeBigUInt64LE(0x1122334455667788n, 8)
  b.writeBigUInt64LE(2n ** 40n + 3n, 16)
  b.writeUInt32LE(1000, 24)
  b.writeUInt32LE(100, 28)
  b.writeUInt32LE(4321, 32)
  b.write('lib\0', 40)
  assert.deepEqual(readHeader(b), { len: 48, opcode: 1, unique: 0x1122334455667788n, nodeid: 2 ** 40 + 3, uid: 1000, gid: 100, pid: 4321 })
  assert.equal(cstring(b, 40), 'lib')
})

test('an entry carries id, timeouts and the attributes; a miss is id 0 with only the entry timeout', () => {
  const b = Buffer.alloc(16 + ENTRY_OUT, 0xff)
  putEntry(b, 16, 9, stat(), 86_400)
  assert.equal(u64(b, 16), 9)
  assert.equal(u64(b, 16 + 16), 86_400, 'entry_valid')
  assert.equal(u64(b, 16 + 24), 86_400, 'attr_valid')
  const attr = 16 + 40
  assert.equal(u64(b, attr), 42, 'ino')
  assert.equal(u64(b, attr + 8), 5 * 2 ** 32 + 7, 'a size past 4 GiB')
  assert.equal(u64(b, attr + 32), 1_700_000_000, 'mtime seconds')
  assert.equal(b.readUInt32LE(attr + 52), 123_000_000, 'mtime nanoseconds')
  assert.equal(b.readUInt32LE(attr + 60), 0o100644, 'mode')

  putEntry(b, 16, 0, undefined, 30)
  assert.equal(u64(b, 16), 0)
  assert.equal(u64(b, 16 + 16), 30, 'the miss is remembered')
  assert.equal(u64(b, 16 + 24), 0)
  assert.ok(b.subarray(16 + 40, 16 + ENTRY_OUT).every(x => x === 0), 'no attributes')
  assert.equal(putOutHeader(b, 5n, 0, ENTRY_OUT), 16 + ENTRY_OUT)
  assert.equal(b.readUInt32LE(0), 16 + ENTRY_OUT)
})

test('dirents are 8-aligned with zero padding, typed from the mode, and say where the next one starts', () => {
  const b = Buffer.alloc(64, 0xff)
  const name = Buffer.from('abcde')
  const n = putDirent(b, 0, 7, 3, name, direntType(0o40755))
  assert.equal(n, 32)
  assert.equal(direntSize(name.length, false), 32)
  assert.equal(direntSize(name.length, true), 32 + ENTRY_OUT)
  assert.equal(u64(b, 0), 7)
  assert.equal(u64(b, 8), 3, 'the offset to continue from')
  assert.equal(b.readUInt32LE(16), 5)
  assert.equal(b.readUInt32LE(20), 4, 'DT_DIR')
  assert.equal(b.toString('utf8', 24, 29), 'abcde')
  assert.deepEqual([...b.subarray(29, 32)], [0, 0, 0])
  assert.equal(direntType(0o100644), 8, 'DT_REG')
  assert.equal(direntType(0o120777), 10, 'DT_LNK')
  assert.equal(direntType(undefined), 0, 'DT_UNKNOWN')
})

test('node ids: one per path while the kernel holds it, gone when it forgets its last lookup; the root stays', () => {
  const t = new NodeTable()
  assert.equal(t.get(1)?.path, '/')
  const a = t.lookedUp('/a')
  assert.equal(t.lookedUp('/a'), a, 'a second lookup of the same path')
  const b = t.lookedUp('/a/b')
  assert.notEqual(a, b)
  t.forget(a, 1)
  assert.equal(t.get(a)?.path, '/a', 'one lookup still held')
  t.forget(a, 1)
  assert.equal(t.get(a), undefined)
  const again = t.lookedUp('/a')
  assert.notEqual(again, a, 'a forgotten id is not handed out again')
  t.forget(1, 5)
  assert.equal(t.get(1)?.path, '/')
  t.forget(12345, 1) // unknown ids are ignored
  assert.equal(childPath('/', 'x'), '/x')
  assert.equal(childPath('/a', 'x'), '/a/x')
})

test('INIT asks for passthrough in flags2 with a stack depth; an open names its backing id', () => {
  const b = Buffer.alloc(64, 0xee)
  assert.equal(putInitOut(b, 0, { flags: INIT.ASYNC_READ | INIT.INIT_EXT, maxReadahead: 131072, maxPages: 256, maxBackground: 16, flags2: INIT2_PASSTHROUGH, maxStackDepth: 1 }), 64)
  assert.equal(b.readUInt32LE(12), (INIT.ASYNC_READ | INIT.INIT_EXT) >>> 0)
  assert.equal(b.readUInt32LE(32), 1 << 5, 'flags2: FUSE_PASSTHROUGH is bit 37 of the 64-bit flags')
  assert.equal(b.readUInt32LE(36), 1, 'max_stack_depth')
  assert.ok(b.subarray(40).every(x => x === 0), 'the unused words are zero')
  putInitOut(b, 0, { flags: 0, maxReadahead: 0, maxPages: 256, maxBackground: 16 })
  assert.equal(b.readUInt32LE(32), 0, 'no flags2 unless asked')
  const o = Buffer.alloc(16, 0xee)
  assert.equal(putOpenOut(o, 0, 7, FOPEN_PASSTHROUGH, 3), 16)
  assert.equal(u64(o, 0), 7)
  assert.equal(o.readUInt32LE(8), 1 << 7)
  assert.equal(o.readInt32LE(12), 3, 'backing_id')
  putOpenOut(o, 0, 7, 0)
  assert.equal(o.readInt32LE(12), 0)
})

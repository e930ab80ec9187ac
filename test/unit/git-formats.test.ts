import assert from 'node:assert/strict'
import { test } from 'node:test'
import { deflateSync } from 'node:zlib'
import { applyDelta, deltaSizes } from '../../src/git/delta.ts'
import { hashObject, parseObjectHeader, verifyObject } from '../../src/git/object-id.ts'
import { parsePackEntryHeader } from '../../src/git/pack-entry.ts'
import { isSafeEntryName, unsafeNameReason } from '../../src/git/path-safety.ts'
import { parseTree, subtreeIds } from '../../src/git/tree.ts'
import { parseCommit } from '../../src/git/commit.ts'

const ZERO = '0'.repeat(40)

function treeBytes (entries: Array<[string, string | Buffer, string]>): Buffer {
  return Buffer.concat(entries.map(([mode, name, id]) => Buffer.concat([
    Buffer.from(`${mode} `), Buffer.isBuffer(name) ? name : Buffer.from(name), Buffer.from([0]), Buffer.from(id, 'hex')
  ])))
}

test('hashObject matches git for the empty blob and tree', () => {
  assert.equal(hashObject('blob', Buffer.alloc(0)), 'e69de29bb2d1d6434b8b29ae775ad8c2e48c5391')
  assert.equal(hashObject('tree', Buffer.alloc(0)), '4b825dc642cb6eb9a060e54bf8d69288fbee4904')
  assert.throws(() => { verifyObject(ZERO, 'blob', Buffer.from('x')) }, { code: 'EBADHASH' })
})

test('object headers are parsed strictly', () => {
  assert.deepEqual(parseObjectHeader(Buffer.from('blob 12\0hello world!'), 'x'), { type: 'blob', size: 12, start: 8 })
  for (const bad of ['blob\0', 'blub 1\0', 'blob 01\0', 'blob -1\0', 'blob 1']) {
    assert.throws(() => parseObjectHeader(Buffer.from(bad), 'x'), { code: 'EMALFORMED' }, bad)
  }
})

test('unsafe names are those git fsck and verify_path reject', () => {
  for (const name of ['.', '..', '.git', '.GIT', '.Git', 'git~1', 'GIT~1', '.git.', '.git ', '.git::$INDEX_ALLOCATION',
    '.g\u200cit', '\ufeff.git', 'a/b', 'a\0b', '']) {
    assert.equal(isSafeEntryName(name), false, JSON.stringify(name))
  }
  for (const name of ['.gitignore', '.gitmodules', 'git', 'a b', 'héllo', '日本語', '..a', '.github', 'git~2']) {
    assert.equal(isSafeEntryName(name), true, JSON.stringify(name))
  }
  assert.equal(unsafeNameReason('..'), 'dotdot')
})

test('parseTree keeps safe entries and reports the rest', () => {
  const id = 'ab'.repeat(20)
  const t = parseTree(treeBytes([
    ['100644', 'a.txt', id], ['100755', 'run', id], ['120000', 'link', id], ['40000', 'dir', id], ['160000', 'sub', id],
    ['100664', 'old', id], ['100600', 'badmode', id], ['100644', '..', id], ['40000', '.git', id], ['100644', Buffer.from([0xff, 0xfe]), id]
  ]))
  assert.deepEqual(t.entries.map(e => [e.name, e.kind]), [
    ['a.txt', 'file'], ['run', 'exec'], ['link', 'symlink'], ['dir', 'dir'], ['sub', 'gitlink'], ['old', 'file']
  ])
  assert.deepEqual(t.rejected.map(r => r.reason), ['bad mode 100600', 'unsafe name (dotdot)', 'unsafe name (dotgit)', 'name is not valid UTF-8'])
  assert.throws(() => parseTree(Buffer.from('100644 a\0abc')), { code: 'EMALFORMED' })
})

test('subtreeIds lists the directories parseTree lists, and nothing else', () => {
  const ids = Array.from({ length: 8 }, (_, i) => String(i + 1).repeat(40))
  const tree = treeBytes([
    ['40000', 'a', ids[0]], ['100644', 'f', ids[1]], ['40000', '.git', ids[2]], ['040000', 'zero', ids[3]],
    ['40000', Buffer.from([0xff]), ids[4]], ['4000', 'short', ids[5]], ['40000', 'b c', ids[6]], ['160000', 'sub', ids[7]]
  ])
  assert.deepEqual(subtreeIds(tree), [ids[0], ids[6]])
  assert.deepEqual(subtreeIds(tree), parseTree(tree).entries.filter(e => e.kind === 'dir').map(e => e.id))
  assert.deepEqual(subtreeIds(Buffer.alloc(0)), [])
  for (const bad of ['40000 a\0abc', '4000000000 a\0' + 'x'.repeat(20), 'no space here']) {
    assert.throws(() => subtreeIds(Buffer.from(bad, 'latin1')), { code: 'EMALFORMED' }, bad)
  }
})

test('parseCommit reads tree, parents and committer time', () => {
  const c = parseCommit(Buffer.from(`tree ${'1'.repeat(40)}\nparent ${'2'.repeat(40)}\nauthor A <a> 1 +0000\ncommitter C <c> 1700000000 +0100\n\nmsg\n`))
  assert.deepEqual(c, { tree: '1'.repeat(40), parents: ['2'.repeat(40)], committerTime: 1700000000 })
  assert.throws(() => parseCommit(Buffer.from('tree nope\n\n')), { code: 'EMALFORMED' })
})

test('deltas: copy and insert, and every out-of-range case refused', () => {
  const base = Buffer.from('hello, world')
  // base size 12, result size 11: copy "hello" (off 0 len 5), insert "!!", copy "world"... (off 7 len 4 -> "worl")
  const delta = Buffer.from([12, 11, 0x90, 5, 2, 0x21, 0x21, 0x91, 7, 4])
  assert.deepEqual(deltaSizes(delta), { baseSize: 12, resultSize: 11, start: 2 })
  assert.equal(applyDelta(base, delta).toString(), 'hello!!worl')
  assert.throws(() => applyDelta(Buffer.from('short'), delta), { code: 'EMALFORMED' })
  assert.throws(() => applyDelta(base, Buffer.from([12, 5, 0x91, 10, 5])), { code: 'EMALFORMED' }) // copy past base end
  assert.throws(() => applyDelta(base, Buffer.from([12, 1, 0])), { code: 'EMALFORMED' }) // reserved 0
  assert.throws(() => applyDelta(base, Buffer.from([12, 3, 1, 0x41])), { code: 'EMALFORMED' }) // short result
  assert.throws(() => applyDelta(base, Buffer.from([12, 0x80])), { code: 'EMALFORMED' }) // truncated varint
  assert.throws(() => applyDelta(base, Buffer.from([12, 0xff, 0xff, 0x7f]), 1000), { code: 'EMALFORMED' }) // over the cap
})

test('pack entry headers: sizes, ofs and ref deltas', () => {
  // blob (3) of size 300: 0b1_011_1100 then 300>>4 = 18
  const h = parsePackEntryHeader(Buffer.concat([Buffer.from([0xbc, 18]), deflateSync(Buffer.alloc(300))]), 100)
  assert.deepEqual(h, { type: 'blob', size: 300, headerLength: 2 })
  const ofs = parsePackEntryHeader(Buffer.from([0x65, 0x81, 0x00]), 1000) // ofs-delta size 5, rel (1+1)*128+0 = 256
  assert.equal(ofs.type, 'ofs-delta')
  assert.equal(ofs.baseOffset, 1000 - 256)
  const ref = parsePackEntryHeader(Buffer.concat([Buffer.from([0x75]), Buffer.alloc(20, 0xaa)]), 10)
  assert.equal(ref.baseId, 'aa'.repeat(20))
  assert.throws(() => parsePackEntryHeader(Buffer.from([0x50]), 0), { code: 'EMALFORMED' }) // type 5 is reserved
  assert.throws(() => parsePackEntryHeader(Buffer.from([0x65, 0x7f]), 10), { code: 'EMALFORMED' }) // base before the pack
  assert.throws(() => parsePackEntryHeader(Buffer.from([0xbc]), 0), { code: 'EMALFORMED' }) // truncated
})

test('every short ASCII name gets the reason git would give it (the fast path for plain names agrees with the full rules)', () => {
  // Written from git's rules (verify_path, is_ntfs_dotgit), not from the code under test.
  const expected = (name: string): string | null => {
    if (name.length === 0) return 'empty'
    if (name === '.') return 'dot'
    if (name === '..') return 'dotdot'
    if (name.includes('/')) return 'slash'
    if (name.includes('\0')) return 'nul'
    const dotgit = (part: string): boolean => /^(\.git|git~1)[. ]*$/.test(part.toLowerCase().split(':')[0])
    if (dotgit(name)) return 'dotgit'
    if (name.includes('\\') && name.split('\\').some(p => dotgit(p) || p === '..')) return 'backslash-dotgit'
    return null
  }
  const alphabet = ['.', 'g', 'G', 'i', 'T', 't', '~', '1', ':', ' ', 'a', '\\', '/', '\0']
  let names = ['']
  let checked = 0
  for (let len = 1; len <= 4; len++) {
    names = names.flatMap(n => alphabet.map(c => n + c))
    for (const n of names) {
      assert.equal(unsafeNameReason(n), expected(n), JSON.stringify(n))
      checked++
    }
  }
  assert.ok(checked > 40_000)
  for (const n of ['.git\u200c', '\u200c.GIT', '.g\u200dit', 'g\u200cit~1']) assert.equal(unsafeNameReason(n), n.startsWith('g') ? null : 'dotgit', JSON.stringify(n))
})

import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { GitObjectStore } from '../../src/store/object-store.ts'
import { resolveRef, listRefs } from '../../src/store/git-dir.ts'
import { hashObject } from '../../src/git/object-id.ts'
import { adler32 } from '../../src/store/seekable-loose.ts'
import { inflateSync } from 'node:zlib'
import { git, must, runBuffer, tempDir, waitUntil } from '../helpers/run.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let repo: string
let ids: string[]

/** Every object id with type and size, as git itself sees them. */
async function gitObjects (dir: string): Promise<Map<string, { type: string, size: number }>> {
  const out = await git(dir, 'cat-file', '--batch-all-objects', '--batch-check')
  const m = new Map<string, { type: string, size: number }>()
  for (const line of out.trim().split('\n')) {
    const [id, type, size] = line.split(' ')
    m.set(id, { type, size: Number(size) })
  }
  return m
}

before(async () => {
  tmp = await tempDir('store')
  repo = join(tmp.path, 'repo')
  await mkdir(repo)
  await git(repo, 'init', '-q')
  // Files that delta well against each other, across several commits, so repack makes ofs deltas.
  const lines = Array.from({ length: 2000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`)
  for (let c = 0; c < 6; c++) {
    lines[c * 300] = `changed in commit ${c}`
    await writeFile(join(repo, 'text.txt'), lines.join('\n'))
    await writeFile(join(repo, `f${c}.txt`), `file ${c}\n`)
    await git(repo, 'add', '-A')
    await git(repo, 'commit', '-qm', `c${c}`)
  }
  await git(repo, 'repack', '-adq', '--depth=50', '--window=50')
  // Loose objects on top of the pack.
  await writeFile(join(repo, 'text.txt'), lines.join('\n') + '\nloose tail\n')
  await git(repo, 'add', '-A')
  await git(repo, 'commit', '-qm', 'loose')
  await git(repo, 'tag', '-a', 'v1', '-m', 'annotated')
  ids = [...(await gitObjects(repo)).keys()]
})

after(async () => { await tmp.remove() })

test('reads every object, loose, packed and deltified, exactly as git does', async () => {
  const store = await GitObjectStore.open(join(repo, '.git', 'objects'), { cacheBytes: 1024 })
  try {
    const expected = await gitObjects(repo)
    const packed = (await git(repo, 'verify-pack', '-v', ...(await readdir(join(repo, '.git/objects/pack'))).filter(n => n.endsWith('.idx')).map(n => `.git/objects/pack/${n}`)))
    assert.match(packed, /chain length = [1-9]/, 'the fixture must contain delta chains')
    for (const id of ids) {
      const obj = await store.read(id)
      const want = expected.get(id)!
      assert.equal(obj.type, want.type, id)
      assert.equal(obj.data.length, want.size, id)
      assert.deepEqual(await store.header(id), { type: want.type, size: want.size }, `header ${id}`)
      const raw = await runBuffer('git', ['-C', repo, 'cat-file', want.type, id])
      assert.ok(obj.data.equals(raw), `content of ${id}`)
    }
  } finally {
    await store.close()
  }
})

/**
 * Bytes that deflate into a dynamic Huffman block with a long code table (all
 * 256 byte values, skewed, with back-references of many lengths and distances):
 * zlib writes ~100 bytes of table before the first byte of output.
 */
function tableHeavy (n: number, seed: number): Buffer {
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) {
    if (i > 300 && rnd() < 0.3) {
      const len = 3 + Math.floor(rnd() * 200)
      const d = 1 + Math.floor(rnd() * Math.min(i, 16000))
      for (let k = 0; k < len && i < n; k++, i++) b[i] = b[i - d]
      i--
      continue
    }
    b[i] = Math.min(255, Math.floor(-Math.log(1 - rnd()) * 120))
  }
  return b
}

test('a delta whose zlib stream opens with a long code table still says its size', async () => {
  // The size of a packed delta is the second varint of its inflated data; the
  // store inflates a prefix of the stream for it. A prefix shorter than the
  // block's code table inflates to nothing ("bad delta: truncated size" before).
  const dir = join(tmp.path, 'tables')
  await mkdir(dir)
  await git(dir, 'init', '-q')
  const base = tableHeavy(20_000, 1)
  // two versions that differ in a middle part of their own, so a delta either way inserts one
  const version = (seed: number): Buffer => Buffer.concat([base.subarray(0, 10_000), tableHeavy(8_000, seed), base.subarray(10_000)])
  for (const [i, content] of [version(2), version(3)].entries()) {
    await writeFile(join(dir, 'a.bin'), content)
    await git(dir, 'add', '-A')
    await git(dir, 'commit', '-qm', `v${i}`)
  }
  await git(dir, 'repack', '-adq', '--depth=50', '--window=50')
  const expected = await gitObjects(dir)
  const store = await GitObjectStore.open(join(dir, '.git', 'objects'))
  try {
    for (const [id, want] of expected) assert.equal(await store.size(id), want.size, `${want.type} ${id}`)
  } finally {
    await store.close()
  }
})

test('a loose object whose zlib stream says nothing for its first 500 bytes still says its type and size', async () => {
  // 100 empty stored blocks, then the object in a final one: valid zlib (git reads
  // it), and the store's first 256 bytes inflate to nothing.
  const repo = join(tmp.path, 'late-header')
  await git(tmp.path, 'init', '-q', '--bare', repo)
  const content = Buffer.from('late header\n')
  const payload = Buffer.concat([Buffer.from(`blob ${content.length}\0`), content])
  const id = hashObject('blob', content)
  const empty = Buffer.from([0, 0, 0, 0xff, 0xff])
  const last = Buffer.alloc(5)
  last[0] = 1
  last.writeUInt16LE(payload.length, 1)
  last.writeUInt16LE(~payload.length & 0xffff, 3)
  const trailer = Buffer.alloc(4)
  trailer.writeUInt32BE(adler32([payload]))
  await mkdir(join(repo, 'objects', id.slice(0, 2)), { recursive: true })
  await writeFile(join(repo, 'objects', id.slice(0, 2), id.slice(2)), Buffer.concat([Buffer.from([0x78, 0x01]), ...Array(100).fill(empty), last, payload, trailer]))
  assert.equal((await git(repo, 'cat-file', '-s', id)).trim(), String(content.length), 'git reads it')
  const store = await GitObjectStore.open(join(repo, 'objects'))
  try {
    assert.deepEqual(await store.header(id), { type: 'blob', size: content.length })
  } finally {
    await store.close()
  }
})

test('concurrent reads of one object share one read', async () => {
  const store = await GitObjectStore.open(join(repo, '.git', 'objects'))
  try {
    const all = await Promise.all(Array.from({ length: 20 }, async () => await store.read(ids[0])))
    assert.ok(all.every(o => o === all[0]), 'every caller gets the same object')
  } finally {
    await store.close()
  }
})

test('pack blocks evicted and reused under concurrent reads never serve another block\'s bytes', async () => {
  // ~2 MiB of incompressible blobs: 8 blocks, entries across block edges, a cache of one block
  const dir = join(tmp.path, 'blocks')
  await mkdir(dir)
  await git(dir, 'init', '-q')
  for (let i = 0; i < 64; i++) await writeFile(join(dir, `r${i}.bin`), randomBytes(20_000 + i * 500))
  await git(dir, 'add', '-A')
  await git(dir, 'commit', '-qm', 'random')
  await git(dir, 'repack', '-adq')
  const blobs = [...(await gitObjects(dir))].filter(([, o]) => o.type === 'blob').map(([id]) => id)
  const store = await GitObjectStore.open(join(dir, '.git', 'objects'), { cacheBytes: 1024, packBlockBytes: 1 })
  try {
    for (let round = 0; round < 3; round++) {
      // read() checks each object's hash: bytes from a reused block would fail with EBADHASH
      const got = await Promise.all([...blobs].reverse().map(async id => await store.read(id)))
      assert.equal(got.length, 64)
    }
  } finally {
    await store.close()
  }
})

test('missing and malformed ids fail with their codes', async () => {
  const store = await GitObjectStore.open(join(repo, '.git', 'objects'))
  try {
    await assert.rejects(store.read('0'.repeat(40)), { code: 'ENOTFOUND' })
    await assert.rejects(store.read('../../etc/passwd'), { code: 'EBADID' })
    assert.equal(await store.has('1'.repeat(40)), false)
  } finally {
    await store.close()
  }
})

test('writes are atomic, hash-checked, and readable by stock git', async () => {
  await must('git', ['init', '-q', '--bare', join(tmp.path, 'w')])
  const objects = join(tmp.path, 'w', 'objects')
  const store = await GitObjectStore.open(objects)
  try {
    const data = Buffer.from('written by gtfs\n')
    const id = await store.write('blob', data)
    assert.equal(id, hashObject('blob', data))
    await assert.rejects(store.write('blob', Buffer.from('other'), id), { code: 'EBADHASH' })
    assert.deepEqual((await readdir(join(objects, id.slice(0, 2)))), [id.slice(2)], 'no temp files left behind, nothing wrong stored')
    assert.equal(await must('git', [`--git-dir=${join(tmp.path, 'w')}`, 'cat-file', '-p', id]), 'written by gtfs\n')
    await must('git', [`--git-dir=${join(tmp.path, 'w')}`, 'fsck', '--no-dangling', '--strict'])
    assert.ok((await store.read(id)).data.equals(data))
  } finally {
    await store.close()
  }
})

test('a corrupted loose object is refused, not served', async () => {
  const dir = join(tmp.path, 'corrupt', 'objects')
  await mkdir(dir, { recursive: true })
  const store = await GitObjectStore.open(dir)
  const id = await store.write('blob', Buffer.from('original'))
  await store.close()
  // Replace the file with a valid zlib stream of another object, under the old name.
  const { deflateSync } = await import('node:zlib')
  const path = join(dir, id.slice(0, 2), id.slice(2))
  await chmod(path, 0o644)
  await writeFile(path, deflateSync(Buffer.from('blob 8\0tampered')))
  const again = await GitObjectStore.open(dir)
  try {
    await assert.rejects(again.read(id), { code: 'EBADHASH' })
  } finally {
    await again.close()
  }
})

test('large blobs stream into verified unpacked files and read at any offset', async () => {
  const big = join(tmp.path, 'big')
  await mkdir(big)
  await git(big, 'init', '-q')
  const content = Buffer.alloc(3 * 2 ** 20)
  for (let i = 0; i < content.length; i += 4) content.writeUInt32LE((i * 2654435761) >>> 0, i)
  await writeFile(join(big, 'big.bin'), content)
  await git(big, 'add', 'big.bin')
  await git(big, 'commit', '-qm', 'big')
  const blobId = (await git(big, 'rev-parse', 'HEAD:big.bin')).trim()
  for (const packed of [false, true]) {
    if (packed) await git(big, 'repack', '-adq')
    const unpackedDir = join(tmp.path, `unpacked-${packed}`)
    const store = await GitObjectStore.open(join(big, '.git', 'objects'), { largeBlobBytes: 2 ** 20, unpackedDir })
    try {
      const c = await store.openBlob(blobId)
      assert.equal(c.kind, 'file')
      if (c.kind !== 'file') return
      const buf = Buffer.alloc(70_000)
      for (const pos of [content.length - 5, 0, 1_234_567, content.length + 10]) {
        const n: number = await c.blob.read(buf, buf.length, pos)
        assert.equal(n, Math.max(0, Math.min(buf.length, content.length - pos)), `count at ${pos}`)
        assert.ok(buf.subarray(0, n).equals(content.subarray(pos, pos + n)), `bytes at ${pos} (packed=${packed})`)
      }
      await c.release()
      assert.ok('complete' in c.blob, 'a blob git wrote is unpacked')
      await c.blob.complete
      assert.deepEqual(await readdir(unpackedDir), [blobId])
      assert.ok((await readFile(join(unpackedDir, blobId))).equals(content))
    } finally {
      await store.close()
    }
  }
})

test('refs: short names, packed refs, symbolic HEAD, annotated tags', async () => {
  const gitDir = join(repo, '.git')
  const head = (await git(repo, 'rev-parse', 'HEAD')).trim()
  assert.deepEqual(await resolveRef(gitDir, 'HEAD'), { name: 'HEAD', id: head })
  assert.deepEqual(await resolveRef(gitDir, 'main'), { name: 'refs/heads/main', id: head })
  await git(repo, 'pack-refs', '--all')
  const tag = (await git(repo, 'rev-parse', 'v1')).trim()
  assert.deepEqual(await resolveRef(gitDir, 'v1'), { name: 'refs/tags/v1', id: tag })
  assert.equal((await listRefs(gitDir)).get('refs/heads/main'), head)
  await assert.rejects(resolveRef(gitDir, 'nope'), { code: 'ENOREF' })
  await assert.rejects(resolveRef(gitDir, 'refs/../../config'), { code: 'ENOREF' })
})

/** A bare repo's store that writes blobs over 1 MiB in the seekable layout, with an unpacked directory; and a 3 MiB blob's content. */
async function seekableStore (name: string): Promise<{ repo: string, unpackedDir: string, store: GitObjectStore, content: Buffer }> {
  const repo = join(tmp.path, name)
  await git(tmp.path, 'init', '-q', '--bare', repo)
  const unpackedDir = join(tmp.path, `unpacked-${name}`)
  const store = await GitObjectStore.open(join(repo, 'objects'), { largeBlobBytes: 2 ** 20, unpackedDir })
  return { repo, unpackedDir, store, content: randomBytes(3 * 2 ** 20 + 17) }
}

test('large blobs written here are seekable in place: no unpacked copy, git reads them', async () => {
  const { repo, unpackedDir, store, content } = await seekableStore('seekable')
  try {
    const id = await store.write('blob', content)
    const c = await store.openBlob(id)
    assert.equal(c.kind, 'file')
    if (c.kind !== 'file') return
    assert.ok(!('complete' in c.blob), 'served in place, not unpacked')
    const buf = Buffer.alloc(100_000)
    for (const pos of [0, 65_530, 2_000_001, content.length - 3]) {
      const n: number = await c.blob.read(buf, buf.length, pos)
      assert.ok(buf.subarray(0, n).equals(content.subarray(pos, pos + buf.length)), `bytes at ${pos}`)
    }
    await c.release()
    assert.deepEqual(await readdir(unpackedDir).catch(() => []), [])
    assert.ok((await git(repo, 'cat-file', '-t', id)).trim() === 'blob')
  } finally {
    await store.close()
  }
})

test('a seekable blob\'s plain copy (for passthrough): asked for many times at once, written once, then named', async () => {
  const { repo, unpackedDir, store, content } = await seekableStore('plain-copy')
  try {
    const id = await store.write('blob', content)
    const c = await store.openBlob(id)
    if (c.kind !== 'file') throw new Error('a large blob is a file')
    // white box: how many times a file is opened to write the copy
    let writes = 0
    const unpacked = (store as unknown as { unpacked: { openFile: (...args: unknown[]) => Promise<unknown> } }).unpacked
    const openFile = unpacked.openFile.bind(unpacked)
    unpacked.openFile = async (...args) => { writes++; return await openFile(...args) }
    for (let i = 0; i < 20; i++) assert.equal(c.blob.plainPath?.(), undefined, 'none until it is complete')
    let path: string | undefined
    await waitUntil('the plain copy is complete', () => (path = c.blob.plainPath?.()) !== undefined, 20_000, 20)
    assert.equal(path, join(unpackedDir, id))
    assert.equal(writes, 1, 'one copy is written')
    assert.deepEqual(await readdir(unpackedDir), [id], 'one copy, no temporary file left')
    assert.ok((await readFile(path!)).equals(content))
    await c.release()
  } finally {
    await store.close()
  }
  // A blob larger than the unpacked files' whole budget gets no copy: it would sit on disk outside the budget.
  const small = join(tmp.path, 'unpacked-small-budget')
  const tight = await GitObjectStore.open(join(repo, 'objects'), { largeBlobBytes: 2 ** 20, unpackedDir: small, unpackedBudgetBytes: 2 ** 20 })
  try {
    const c = await tight.openBlob(hashObject('blob', content))
    if (c.kind !== 'file') throw new Error('a large blob is a file')
    assert.equal(c.blob.plainPath?.(), undefined)
    await new Promise(resolve => setTimeout(resolve, 100))
    assert.deepEqual(await readdir(small).catch(() => []), [])
    await c.release()
  } finally {
    await tight.close()
  }
})

test('readDeflated: a whole pack entry\'s stream as stored, CRC-checked; null for deltas, loose objects and large blobs', async () => {
  const objectsDir = join(repo, '.git', 'objects')
  const store = await GitObjectStore.open(objectsDir)
  const idxName = (await readdir(join(objectsDir, 'pack'))).find(n => n.endsWith('.idx'))!
  // verify-pack -v: "<id> <type> <size> <size-in-pack> <offset> [<depth> <base>]"
  const rows = (await git(repo, 'verify-pack', '-v', `.git/objects/pack/${idxName}`)).split('\n').map(l => l.split(/\s+/)).filter(f => /^[0-9a-f]{40}$/.test(f[0]) && f.length >= 5)
  const deltas = new Set(rows.filter(f => f.length >= 7).map(f => f[0]))
  const packed = new Set(rows.map(f => f[0]))
  let whole = 0
  try {
    assert.ok(deltas.size > 0)
    for (const id of ids) {
      const z = await store.readDeflated(id)
      if (!packed.has(id) || deltas.has(id)) { assert.equal(z, null, id); continue }
      const obj = await store.read(id)
      assert.ok(z !== null, id)
      assert.equal(z.type, obj.type)
      assert.equal(z.size, obj.data.length)
      assert.ok(inflateSync(z.deflated).equals(obj.data), id)
      whole++
    }
    assert.ok(whole > 5, `${whole} whole entries`)
    assert.equal(await store.readDeflated('00'.repeat(20)), null)
  } finally {
    await store.close()
  }
  // a store with a lower large-blob threshold keeps its large blobs inflated-only
  const small = await GitObjectStore.open(objectsDir, { largeBlobBytes: 16 })
  try {
    const big = rows.find(f => f.length < 7 && f[1] === 'blob' && Number(f[2]) > 16)![0]
    assert.equal(await small.readDeflated(big), null)
  } finally {
    await small.close()
  }
})

test('readDeflated refuses an entry whose bytes do not match the index CRC (EBADCRC)', async () => {
  const copy = join(tmp.path, 'crc')
  await git(tmp.path, 'clone', '-q', '--bare', '--no-local', repo, copy)
  const packDir = join(copy, 'objects', 'pack')
  const packName = (await readdir(packDir)).find(n => n.endsWith('.pack'))!
  const idxName = packName.slice(0, -5) + '.idx'
  const rows = (await git(copy, 'verify-pack', '-v', join(packDir, idxName))).split('\n').map(l => l.split(/\s+/)).filter(f => /^[0-9a-f]{40}$/.test(f[0]) && f.length === 5 && Number(f[3]) > 8)
  const [id, , , inPack, offset] = rows[0]
  const path = join(packDir, packName)
  await chmod(path, 0o644)
  const buf = await readFile(path)
  buf[Number(offset) + Number(inPack) - 3] ^= 0xff // in the zlib stream's adler32
  await writeFile(path, buf)
  const store = await GitObjectStore.open(join(copy, 'objects'))
  try {
    await assert.rejects(store.readDeflated(id), { code: 'EBADCRC' })
  } finally {
    await store.close()
  }
})

/** Packed whole blobs of `dir`'s pack, as git's verify-pack lists them: [id, size, size in pack, offset]. */
async function packedBlobs (dir: string): Promise<Array<[string, number, number, number]>> {
  const packDir = join(dir, '.git', 'objects', 'pack')
  const idx = (await readdir(packDir)).find(n => n.endsWith('.idx'))!
  return (await git(dir, 'verify-pack', '-v', join(packDir, idx))).split('\n').map(l => l.split(/\s+/))
    .filter(f => /^[0-9a-f]{40}$/.test(f[0]) && f[1] === 'blob' && f.length === 5)
    .map(f => [f[0], Number(f[2]), Number(f[3]), Number(f[4])])
}


test('prefetch warms small packed blobs on the worker; each open takes one once; the rest are read as usual', async () => {
  const store = await GitObjectStore.open(join(repo, '.git', 'objects'))
  try {
    const packed = await packedBlobs(repo)
    const whole = packed.filter(r => r[1] <= 64 * 1024).map(r => r[0])
    assert.ok(whole.length >= 4 && whole.length < packed.length, 'the fixture must have small and large packed whole blobs')
    const others = ids.filter(id => !whole.includes(id)) // large, deltas, loose objects, trees, commits
    store.prefetch([...whole, ...others])
    await waitUntil('warming', () => store.warm!.warmed + store.warm!.skipped >= whole.length + others.length)
    assert.equal(store.warm!.warmed, whole.length)
    assert.equal(store.warm!.objects, whole.length)
    for (const id of whole) {
      const c = await store.openBlob(id)
      assert.equal(c.kind, 'buffer')
      assert.deepEqual(c.kind === 'buffer' ? c.data : null, await runBuffer('git', ['-C', repo, 'cat-file', 'blob', id]))
    }
    assert.equal(store.warm!.taken, whole.length)
    assert.deepEqual([store.warm!.objects, store.warm!.bytes], [0, 0], 'what was taken is not held')
    const again = await store.openBlob(whole[0]) // read the usual way now
    assert.deepEqual(again.kind === 'buffer' ? again.data : null, await runBuffer('git', ['-C', repo, 'cat-file', 'blob', whole[0]]))
  } finally {
    await store.close()
  }
})

test('a packed blob whose stream is damaged is not warmed: its open fails as without warming', async () => {
  const copy = join(tmp.path, 'warm-bad')
  await git(tmp.path, 'clone', '-q', '--no-local', repo, copy)
  const [id, , inPack, offset] = (await packedBlobs(copy)).find(r => r[2] > 8)!
  const packDir = join(copy, '.git', 'objects', 'pack')
  const path = join(packDir, (await readdir(packDir)).find(n => n.endsWith('.pack'))!)
  await chmod(path, 0o644)
  const buf = await readFile(path)
  buf[offset + inPack - 2] ^= 0xff // in the zlib stream's adler32
  await writeFile(path, buf)
  const store = await GitObjectStore.open(join(copy, '.git', 'objects'))
  try {
    store.prefetch([id])
    await waitUntil('warming', () => store.warm!.skipped === 1)
    assert.equal(store.warm!.warmed, 0)
    await assert.rejects(store.openBlob(id), { code: 'EMALFORMED' })
  } finally {
    await store.close()
  }
})

/** A miss in the store of `repoDir`, then `git hash-object -w` there: the object is found once a second has passed. */
async function foundWithinASecond (repoDir: string, name: string): Promise<void> {
  const store = await GitObjectStore.open(join(repoDir, '.git', 'objects'))
  try {
    const data = randomBytes(64)
    const id = hashObject('blob', data)
    assert.equal(await store.has(id), false)
    const file = join(tmp.path, name)
    await writeFile(file, data)
    assert.equal((await git(repoDir, 'hash-object', '-w', file)).trim(), id)
    await new Promise(resolve => setTimeout(resolve, 1100))
    assert.equal(await store.has(id), true)
    assert.deepEqual((await store.read(id)).data, data)
  } finally {
    await store.close()
  }
}

test('an object another process writes after a miss is found within a second (misses are remembered that long)', async () => {
  await foundWithinASecond(repo, 'later.bin')
})

test('in a store without loose objects, one written later into a new fan-out directory is found within a second', async () => {
  const fresh = join(tmp.path, 'fresh')
  await mkdir(fresh)
  await git(fresh, 'init', '-q')
  await foundWithinASecond(fresh, 'fresh.bin') // objects/<xx> does not exist at the miss
})

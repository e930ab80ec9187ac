/**
 * Partial blobs: chunks written in any order into the seekable-loose layout,
 * verified before they count, sealed into the loose object, resumed after a
 * crash only as far as the bytes on disk still hash right.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, open, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import { hashObject } from '../../src/git/object-id.ts'
import { GitObjectStore } from '../../src/store/object-store.ts'
import { partialPath, PartialBlob, type PartialSpec } from '../../src/store/partial-blob.ts'
import { fileOffset } from '../../src/store/seekable-loose.ts'

const run = promisify(execFile)
let repo: string
let objects: string
const CHUNK = 64 * 1024

before(async () => {
  repo = await mkdtemp(join(tmpdir(), 'gtfs-partial-'))
  await run('git', ['init', '-q', '--bare', repo])
  objects = join(repo, 'objects')
})
after(async () => { await rm(repo, { recursive: true, force: true }) })

function specOf (data: Buffer, chunkBytes = CHUNK): PartialSpec {
  const hashes: string[] = []
  for (let off = 0; off < data.length; off += chunkBytes) hashes.push(createHash('sha256').update(data.subarray(off, off + chunkBytes)).digest('hex'))
  return { id: hashObject('blob', data), size: data.length, chunkBytes, hashes }
}

const chunk = (data: Buffer, i: number, cb = CHUNK): Buffer => data.subarray(i * cb, (i + 1) * cb)

test('chunks in any order are readable as they land; the last seals a loose object stock git reads', async () => {
  for (const size of [5 * CHUNK, 5 * CHUNK + 1, 3 * 65535 + 7, 10 * CHUNK - 3]) {
    const data = randomBytes(size)
    const store = await GitObjectStore.open(objects)
    const spec = specOf(data)
    const p = await store.openPartial(spec)
    const order = [...spec.hashes.keys()].reverse()
    for (const i of order.slice(0, -1)) {
      await p.write(i, chunk(data, i))
      assert.equal(p.has(i), true)
      const buf = Buffer.alloc(100)
      const at = i * CHUNK + 7
      const n = await p.read(buf, 100, at)
      assert.ok(buf.subarray(0, n).equals(data.subarray(at, at + n)), `chunk ${i} reads back before the blob is complete`)
    }
    assert.equal(p.complete, false)
    assert.equal(await store.has(spec.id), false)
    await p.write(0, chunk(data, 0))
    assert.equal(p.complete, true)
    await store.completePartial(p)
    await store.releasePartial(p)
    assert.equal(await store.has(spec.id), true)
    assert.ok((await store.read(spec.id)).data.equals(data), `size ${size}`)
    const { stdout } = await run('git', ['--git-dir', repo, 'cat-file', '-p', spec.id], { encoding: 'buffer', maxBuffer: 1 << 24 })
    assert.ok((stdout as unknown as Buffer).equals(data), 'stock git reads it')
    await assert.rejects(stat(partialPath(objects, spec.id)), { code: 'ENOENT' }, 'no second copy left behind')
    await store.close()
  }
})

test('a chunk that does not match its hash is refused and does not count', async () => {
  const data = randomBytes(3 * CHUNK)
  const p = await PartialBlob.open(objects, specOf(data))
  try {
    const bad = Buffer.from(chunk(data, 1))
    bad[5] ^= 1
    await assert.rejects(p.write(1, bad), { code: 'EBADHASH' })
    await assert.rejects(p.write(1, chunk(data, 1).subarray(1)), { code: 'EBADSIZE' })
    assert.equal(p.has(1), false)
  } finally {
    await p.close()
    await rm(partialPath(objects, hashObject('blob', data)))
  }
})

test('after a crash, chunks that still hash right are kept; torn ones are fetched again', async () => {
  const data = randomBytes(6 * CHUNK + 11)
  const spec = specOf(data)
  const first = await PartialBlob.open(objects, spec)
  for (const i of [0, 2, 3, 6]) await first.write(i, chunk(data, i))
  await first.close() // the process dies here
  // a torn write: one byte of chunk 3 never reached the disk
  const fh = await open(partialPath(objects, spec.id), 'r+')
  await fh.write(Buffer.from([data[3 * CHUNK + 100] ^ 0xff]), 0, 1, fileOffset(7 + 3 * CHUNK + 100 + (`blob ${data.length}`.length - 6)))
  await fh.close()
  const again = await PartialBlob.open(objects, spec)
  try {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6].filter(i => again.has(i)), [0, 2, 6])
    assert.deepEqual(again.missing(0, 6), [1, 3, 4, 5])
    for (const i of again.missing(0, 6)) await again.write(i, chunk(data, i))
    await again.done()
    const store = await GitObjectStore.open(objects)
    assert.ok((await store.read(spec.id)).data.equals(data))
    await store.close()
  } finally {
    await again.close()
  }
})

test('chunk hashes that describe other bytes than the blob id: EBADHASH at the seal, the file goes', async () => {
  const data = randomBytes(2 * CHUNK)
  const other = randomBytes(2 * CHUNK)
  const spec = { ...specOf(other), id: hashObject('blob', data) }
  const p = await PartialBlob.open(objects, spec)
  try {
    await p.write(0, chunk(other, 0))
    await p.write(1, chunk(other, 1))
    await assert.rejects(p.done(), { code: 'EBADHASH' })
    await assert.rejects(stat(partialPath(objects, spec.id)), { code: 'ENOENT' })
  } finally {
    await p.close()
  }
})

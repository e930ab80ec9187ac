import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { promisify } from 'node:util'
import { adler32, openSeekableLoose, storedStreamSize, writeSeekableLoose } from '../../src/store/seekable-loose.ts'
import { loosePath, readLoose, writeLoose } from '../../src/store/loose.ts'
import { deflateSync } from 'node:zlib'

const run = promisify(execFile)
let repo: string
let objects: string

before(async () => {
  repo = await mkdtemp(join(tmpdir(), 'gtfs-seekable-'))
  await run('git', ['init', '-q', '--bare', repo])
  objects = join(repo, 'objects')
})
after(async () => { await rm(repo, { recursive: true, force: true }) })

// Sizes around the 64 KiB block edges, where off-by-one errors live.
const SIZES = [0, 1, 65535 - 9, 65535 - 8, 65535, 65536, 3 * 65535 + 7, 1_000_003]

test('seekable loose objects are read by stock git, by our inflate path, and at any offset', async () => {
  for (const size of SIZES) {
    const data = randomBytes(size)
    const id = await writeSeekableLoose(objects, 'blob', data)
    assert.equal(id, createHash('sha1').update(`blob ${size}\0`).update(data).digest('hex'))
    const raw = await readFile(loosePath(objects, id))
    assert.equal(raw.length, storedStreamSize(`blob ${size}\0`.length + size), `file size for ${size}`)
    const { stdout } = await run('git', ['--git-dir', repo, 'cat-file', 'blob', id], { encoding: 'buffer', maxBuffer: 1 << 24 })
    assert.ok(stdout.equals(data), `git cat-file agrees for ${size}`)
    const inflated = await readLoose(objects, id, 1 << 24)
    assert.ok(inflated !== null && inflated.data.equals(data))

    const blob = await openSeekableLoose(objects, id)
    assert.ok(blob !== null, `seekable layout recognised for ${size}`)
    try {
      assert.equal(blob.size, size)
      for (let i = 0; i < 50; i++) {
        const pos = Math.floor(Math.random() * (size + 10))
        const len = Math.floor(Math.random() * 200_000)
        const buf = Buffer.alloc(len)
        const n: number = await blob.read(buf, len, pos)
        const want = data.subarray(Math.min(pos, size), Math.min(pos + len, size))
        assert.equal(n, want.length)
        assert.ok(buf.subarray(0, n).equals(want), `read ${len} at ${pos} of ${size}`)
      }
    } finally {
      await blob.close()
    }
  }
  await run('git', ['--git-dir', repo, 'fsck', '--strict'])
})

/** RFC 1950: a zlib stream ends with the adler32 of its data. */
function zlibAdler (b: Buffer): number {
  const z = deflateSync(b)
  return z.readUInt32BE(z.length - 4)
}

test('adler32 matches zlib', () => {
  for (const size of [0, 1, 5551, 5552, 5553, 100_000]) {
    const b = randomBytes(size)
    assert.equal(adler32([b.subarray(0, size >> 1), b.subarray(size >> 1)]), zlibAdler(b))
  }
})

test('other layouts are not taken for seekable ones', async () => {
  const data = randomBytes(200_000)
  const id = await writeLoose(objects, 'blob', data)
  assert.equal(await openSeekableLoose(objects, id), null)
  assert.equal(await openSeekableLoose(objects, 'ab'.repeat(20)), null)
  // A torn seekable object (cut short) is refused, so the caller inflates it and fails its hash.
  const id2 = await writeSeekableLoose(objects, 'blob', randomBytes(300_000))
  const raw = await readFile(loosePath(objects, id2))
  await rm(loosePath(objects, id2), { force: true })
  await writeFile(loosePath(objects, id2), raw.subarray(0, raw.length - 1000))
  assert.equal(await openSeekableLoose(objects, id2), null)
})

test('a wrong claimed id is refused before anything is visible', async () => {
  const data = randomBytes(100_000)
  await assert.rejects(writeSeekableLoose(objects, 'blob', data, 'cd'.repeat(20)), { code: 'EBADHASH' })
})

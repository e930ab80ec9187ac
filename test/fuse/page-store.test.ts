/**
 * A file opened with its whole content in memory has that content put in the
 * kernel's page cache at open (FUSE_NOTIFY_STORE, gtfs's own /dev/fuse
 * session), so that reading it sends no READ. Checked on a mount whose paths
 * may change content (a following view's per-open handles): the bytes read are
 * those of the version opened, at every size around a page's edge, also when
 * a new version has the same size; content too large to store, and empty
 * files, are read as before.
 *
 * The mount is served by this process, so the files are read by child
 * processes only (a read of our own mount on the thread pool could starve it).
 */
import assert from 'node:assert/strict'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { NotFoundError } from '../../src/errors.ts'
import { STORE_MAX_BYTES as STORE_MAX } from '../../src/fs/dev-fuse.ts'
import { fuseTransport, mountView, type Mounted } from '../../src/fs/mount.ts'
import type { EntryAttr, FileHandle, TreeView } from '../../src/types.ts'
import { run, tempDir } from '../helpers/run.ts'

const skip = fuseTransport() !== 'dev-fuse' ? 'mounts go through libfuse here' : false

/** Deterministic bytes, different for each seed. */
function bytes (n: number, seed: number): Buffer {
  const b = Buffer.alloc(n)
  let x = (seed * 2654435761) >>> 0
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) >>> 0; b[i] = x >>> 24 }
  return b
}

/** path -> content and mtime; the view answers from whatever it holds now */
const files = new Map<string, { data: Buffer, mtime: number }>()
let tmp: Awaited<ReturnType<typeof tempDir>>
let mounted: Mounted | undefined

function heldHandle (data: Buffer): FileHandle {
  const readNow = (buf: Buffer, length: number, position: number): number =>
    position >= data.length ? 0 : data.copy(buf, 0, position, Math.min(data.length, position + length))
  return { size: data.length, readNow, heldContent: () => data, read: async (buf, length, position) => readNow(buf, length, position), close: async () => {} }
}

const view: TreeView = {
  stat: async p => {
    const attr = (dir: boolean, size: number, mtime: number, ino: number): EntryAttr => ({ kind: dir ? 'dir' : 'file', mode: dir ? 0o40755 : 0o100644, size, ino, nlink: 1, uid: 0, gid: 0, rdev: 0, mtime: new Date(mtime) })
    if (p === '/') return attr(true, 4096, 0, 1)
    const f = files.get(p)
    if (f === undefined) throw new NotFoundError(`${p}: no such file`, { code: 'ENOENT' })
    return attr(false, f.data.length, f.mtime, 2 + [...files.keys()].indexOf(p))
  },
  readdir: async () => [...files.keys()].map(p => p.slice(1)),
  readlink: async p => { throw new NotFoundError(`${p}: not a symlink`, { code: 'EINVAL' }) },
  open: async p => {
    const f = files.get(p)
    if (f === undefined) throw new NotFoundError(`${p}: no such file`, { code: 'ENOENT' })
    return heldHandle(f.data)
  },
  listxattr: async () => [],
  getxattr: async p => { throw new NotFoundError(`${p}: no such attribute`, { code: 'ENODATA' }) }
}

before(async () => {
  if (skip !== false) return
  tmp = await tempDir('page-store')
  const dir = join(tmp.path, 'mnt')
  await mkdir(dir)
  // as a following swarm mount does (swarm-mount.ts): the kernel asks for attributes again after 1 s
  mounted = await mountView(view, dir, { label: 'gtfs-page-store-test', follow: true, cacheSeconds: 1 })
})

after(async () => {
  await mounted?.unmount()
  await tmp?.remove()
})

/** `file`'s bytes from offset `skip` to its end, as a child process reads them (hex, to compare) */
async function readChild (file: string, skipBytes = 0): Promise<Buffer> {
  const r = await run('sh', ['-c', 'tail -c +"$2" "$1" | od -An -v -tx1 | tr -d " \\n"', '_', file, String(skipBytes + 1)], { timeoutMs: 30_000 })
  assert.equal(r.code, 0, r.stderr)
  return Buffer.from(r.stdout.trim(), 'hex')
}

test('small files are read from the page cache put there at open, at every size around a page', { skip }, async () => {
  const m = mounted!
  const sizes = [1, 100, 4095, 4096, 4097, 8191, 65_537, STORE_MAX]
  sizes.forEach((n, i) => { files.set(`/f${n}`, { data: bytes(n, i + 1), mtime: 1_000 }) })
  const reads = m.stats.reads
  const stored = m.stats.stored
  for (const n of sizes) assert.ok((await readChild(join(m.dir, `f${n}`))).equals(files.get(`/f${n}`)!.data), `content of a file of ${n} bytes`)
  assert.equal(m.stats.stored - stored, sizes.length, 'each file was stored at its open')
  assert.equal(m.stats.reads, reads, 'no READ reached the process')
  // from the middle, in another open: the pages kept
  assert.ok((await readChild(join(m.dir, 'f65537'), 40_000)).equals(files.get('/f65537')!.data.subarray(40_000)))
  assert.equal(m.stats.stored - stored, sizes.length, 'an unchanged file is not stored again')
  assert.equal(m.stats.reads, reads)
})

test('a new version of a path, of the same size or another, is what a later open reads', { skip }, async () => {
  const m = mounted!
  const stored = m.stats.stored
  files.set('/v', { data: bytes(5000, 100), mtime: 2_000 })
  assert.ok((await readChild(join(m.dir, 'v'))).equals(files.get('/v')!.data))
  assert.equal(m.stats.stored - stored, 1, 'the first open stored its content')
  // Later versions are read through this process: a store over the pages of
  // another version leaves those past its end, so a shorter one, opened
  // while the kernel still holds the last one's size, read as its bytes
  // followed by the old ones. The others come once the kernel's attributes
  // have expired, as after a following mount's switch.
  const versions: Array<[string, Buffer, number]> = [
    ['shorter, at once', bytes(1234, 101), 0],
    ['same size', bytes(1234, 102), 1_100],
    ['longer', bytes(9000, 103), 1_100]
  ]
  let mtime = 3_000
  for (const [what, data, wait] of versions) {
    files.set('/v', { data, mtime: mtime += 1_000 })
    await new Promise(resolve => setTimeout(resolve, wait))
    assert.ok((await readChild(join(m.dir, 'v'))).equals(data), `${what}: the new bytes and no more`)
  }
  assert.equal(m.stats.stored - stored, 1, 'later versions were not stored')
})

test('content too large to store, and an empty file, are read as before', { skip }, async () => {
  const m = mounted!
  files.set('/big', { data: bytes(STORE_MAX + 1, 200), mtime: 1_000 })
  files.set('/empty', { data: Buffer.alloc(0), mtime: 1_000 })
  const reads = m.stats.reads
  const stored = m.stats.stored
  assert.ok((await readChild(join(m.dir, 'big'))).equals(files.get('/big')!.data))
  assert.equal((await readChild(join(m.dir, 'empty'))).length, 0)
  assert.equal(m.stats.stored, stored, 'neither was stored')
  assert.ok(m.stats.reads > reads, 'the large one was read through this process')
})

/**
 * FUSE passthrough (Linux 6.9, gtfs's own /dev/fuse session): a large blob
 * with a plain copy in the store's unpacked directory is read by the kernel
 * itself, no READ reaching this process; the first open, before the copy
 * exists, is read through this process and has the copy made. The kernel
 * refuses cached and passthrough opens of one inode at the same time, so
 * while a cached open lasts, later opens stay cached.
 *
 * The mount is served by this process, so the files are read by child
 * processes only (a read of our own mount on the thread pool could starve it).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { NotFoundError } from '../../src/errors.ts'
import { kernelAtLeast } from '../../src/fs/fuse-ops.ts'
import { fuseTransport, mountView, type Mounted } from '../../src/fs/mount.ts'
import { GitObjectStore } from '../../src/store/object-store.ts'
import type { EntryAttr, TreeView } from '../../src/types.ts'
import { run, tempDir, waitUntil } from '../helpers/run.ts'

const BYTES = 6 * 2 ** 20 + 12_344
let tmp: Awaited<ReturnType<typeof tempDir>>
let mounted: Mounted | undefined
let unpacked: string
let id: string
let digest: string
const skip = fuseTransport() !== 'dev-fuse' ? 'mounts go through libfuse here' : !kernelAtLeast(6, 9) ? 'the kernel has no FUSE passthrough' : false

/** A view of one file, "/big", whose content is the store's blob `id`. */
function bigView (store: GitObjectStore): TreeView {
  const attr = (dir: boolean): EntryAttr => ({ kind: dir ? 'dir' : 'file', mode: dir ? 0o40755 : 0o100644, size: dir ? 4096 : BYTES, ino: dir ? 1 : 2, nlink: 1, uid: 0, gid: 0, rdev: 0, mtime: new Date(0) })
  const nope = (p: string): never => { throw new NotFoundError(`${p}: no such file`, { code: 'ENOENT' }) }
  return {
    stat: async p => p === '/' ? attr(true) : p === '/big' ? attr(false) : nope(p),
    readdir: async () => ['big'],
    readlink: async p => nope(p),
    open: async p => {
      if (p !== '/big') nope(p)
      const c = await store.openBlob(id)
      assert.equal(c.kind, 'file', 'a large blob is a file')
      if (c.kind !== 'file') throw new Error('unreachable')
      return { size: c.blob.size, read: async (buf, length, position) => await c.blob.read(buf, length, position), plainPath: c.blob.plainPath, close: c.release }
    },
    listxattr: async () => [],
    getxattr: async p => nope(p)
  }
}

before(async () => {
  if (skip !== false) return
  tmp = await tempDir('passthrough')
  unpacked = join(tmp.path, 'unpacked')
  const store = await GitObjectStore.open(join(tmp.path, 'objects'), { unpackedDir: unpacked })
  const data = Buffer.alloc(BYTES)
  for (let i = 0; i < BYTES; i += 4) data.writeUInt32LE((i * 2654435761) >>> 0, i)
  digest = createHash('sha256').update(data).digest('hex')
  // larger than the store's large-blob size: written in the seekable layout, no plain copy
  id = await store.write('blob', data)
  const dir = join(tmp.path, 'mnt')
  await mkdir(dir)
  mounted = await mountView(bigView(store), dir, { label: 'gtfs-passthrough-test', follow: true })
})

after(async () => {
  await mounted?.unmount()
  await tmp?.remove()
})

async function sha256 (path: string): Promise<string> {
  const r = await run('sha256sum', [path], { timeoutMs: 30_000 })
  assert.equal(r.code, 0, r.stderr)
  return r.stdout.split(' ')[0]
}

async function until (what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  await waitUntil(what, ok, 20_000, 50)
}

test('a large file with a plain copy is read by the kernel itself; a cached open keeps later opens cached', { skip }, async () => {
  const m = mounted!
  const big = join(m.dir, 'big')
  // Held open from the first open on: read through this process, and the plain copy is made.
  const holder = spawn('sh', ['-c', 'exec 3< "$1"; echo open; read x', '_', big], { stdio: ['pipe', 'pipe', 'inherit'] })
  const held = new Promise<void>(resolve => { holder.stdout.once('data', () => { resolve() }) })
  const exited = new Promise(resolve => holder.on('exit', resolve))
  try {
    await held
    await until('the plain copy is made in the unpacked directory', () => existsSync(join(unpacked, id)))
    const reads = m.stats.reads
    assert.equal(await sha256(big), digest)
    assert.ok(m.stats.reads > reads, 'while a cached open lasts, a new open is read through this process too')
  } finally {
    holder.stdin.end()
    await exited
  }
  // The holder's RELEASE reaches the session a moment after it exits.
  await until('once the cached open is released, an open reads nothing through this process', async () => {
    const reads = m.stats.reads
    assert.equal(await sha256(big), digest)
    return m.stats.reads === reads
  })
  // Two opens at once share the inode's backing file.
  const reads = m.stats.reads
  const r = await run('sh', ['-c', 'sha256sum "$1" & sha256sum "$1"; wait', '_', big], { timeoutMs: 30_000 })
  assert.equal(r.code, 0, r.stderr)
  assert.deepEqual(r.stdout.trim().split('\n').map(l => l.split(' ')[0]), [digest, digest])
  assert.equal(m.stats.reads, reads, 'both opens read through passthrough')
  // Ranged reads at odd offsets come from the same bytes.
  const tail = await run('sh', ['-c', 'tail -c 70000 "$1" | sha256sum', '_', big], { timeoutMs: 30_000 })
  const want = await run('sh', ['-c', 'tail -c 70000 "$1" | sha256sum', '_', join(unpacked, id)], { timeoutMs: 30_000 })
  assert.equal(tail.stdout, want.stdout)
})

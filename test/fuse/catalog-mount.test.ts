/**
 * A CommitView with a rootfs catalog mounted through FUSE (mountView in this
 * process): the kernel's stat shows setuid/setgid/sticky bits, device numbers,
 * fifos, owners, shared inodes and nlink of hard links, empty directories,
 * and getxattr returns the captured xattrs. Every access from this process
 * is asynchronous: a synchronous call on the mount would block the event
 * loop that serves it. As root only (mknod, chown).
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { lstat, mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decodeCatalog, encodeCatalog } from '../../src/git/catalog.ts'
import { mountView, type Mounted } from '../../src/fs/mount.ts'
import { captureMetadata, rootfsCatalog } from '../../src/publish/capture-rootfs.ts'
import { commitRootfs } from '../../src/publish/commit-rootfs.ts'
import { sizesCatalog } from '../../src/publish/tree-catalog.ts'
import { CommitView } from '../../src/repo/commit-view.ts'
import { GitObjectStore } from '../../src/store/object-store.ts'
import { isRoot, makeRootfs, type RootfsFixture } from '../helpers/rootfs.ts'
import { must, run, tempDir } from '../helpers/run.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let store: GitObjectStore | undefined
let mounted: Mounted | undefined
let mnt: string
let fixture: RootfsFixture

before(async () => {
  if (!isRoot) return
  tmp = await tempDir('catalog-mount')
  const rootfs = join(tmp.path, 'rootfs')
  const gitDir = join(tmp.path, 'os.git')
  mnt = join(tmp.path, 'mnt')
  await mkdir(mnt)
  fixture = await makeRootfs(rootfs)
  await must('git', ['init', '-q', '--bare', gitDir])
  const made = await commitRootfs(gitDir, rootfs, 'refs/heads/main', 'rootfs')
  store = await GitObjectStore.open(join(gitDir, 'objects'))
  const catalog = decodeCatalog(encodeCatalog(rootfsCatalog(made.tree, await captureMetadata(rootfs), await sizesCatalog(store, made.tree))))
  const view = await CommitView.open(store, made.commit, { catalog })
  mounted = await mountView(view, mnt, { label: 'gtfs-catalog-test', cacheSeconds: 1 })
})

after(async () => {
  if (mounted !== undefined) await mounted.unmount().catch(async () => { await run('fusermount', ['-uz', mnt]) })
  await store?.close()
  await tmp?.remove()
})

test('stat and getxattr through the kernel show the catalog', { skip: !isRoot && 'needs root (mknod, chown)' }, async () => {
  assert.deepEqual((await readdir(mnt)).sort(), ['.gitattributes', 'bin', 'dev', 'empty', 'etc', 'home', 'tmp'])
  assert.deepEqual(await readdir(join(mnt, 'empty')), [])
  assert.equal((await lstat(join(mnt, 'bin', 'su'))).mode, 0o104755)
  assert.equal((await lstat(join(mnt, 'bin', 'wall'))).mode, 0o102755)
  assert.equal((await lstat(join(mnt, 'tmp'))).mode, 0o041777)
  const nul = await lstat(join(mnt, 'dev', 'null'))
  assert.ok(nul.isCharacterDevice())
  assert.equal(nul.rdev, 0x103)
  const sda = await lstat(join(mnt, 'dev', 'sda'))
  assert.ok(sda.isBlockDevice())
  assert.equal(sda.rdev, 0x800)
  assert.ok((await lstat(join(mnt, 'tmp', 'fifo'))).isFIFO())
  const a = await lstat(join(mnt, 'etc', 'a'))
  const b = await lstat(join(mnt, 'etc', 'b'))
  assert.equal(a.ino, b.ino)
  assert.equal(a.nlink, 2)
  assert.equal(a.mtimeMs, 1_600_000_000_000)
  const notes = await lstat(join(mnt, 'home', 'u', 'notes'))
  assert.deepEqual([notes.uid, notes.gid], [1000, 1000])
  assert.equal(await readFile(join(mnt, 'bin', 'su'), 'utf8'), 'setuid binary\r\n')
  // getxattr through the kernel, by a separate (asynchronous) process
  const x = await must('getfattr', ['--only-values', '-n', 'user.test', join(mnt, 'etc', 'a')])
  assert.equal(x, 'hello')
  if (fixture.caps) {
    const caps = await must('getfattr', ['-d', '-m', '-', '-e', 'base64', join(mnt, 'bin', 'su')])
    assert.match(caps, /security\.capability=0s/)
  }
})

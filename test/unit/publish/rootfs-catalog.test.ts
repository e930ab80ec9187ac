/**
 * The root filesystem catalog round trip, as root: a directory is committed
 * with stock git, its metadata captured, the catalog encoded and decoded, and
 * a CommitView over the commit shows every captured property in stat,
 * readdir and getxattr.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { join } from 'node:path'
import { decodeCatalog, encodeCatalog, makeDev } from '../../../src/git/catalog.ts'
import { captureMetadata, rootfsCatalog } from '../../../src/publish/capture-rootfs.ts'
import { commitRootfs } from '../../../src/publish/commit-rootfs.ts'
import { sizesCatalog } from '../../../src/publish/tree-catalog.ts'
import { CommitView } from '../../../src/repo/commit-view.ts'
import { GitObjectStore } from '../../../src/store/object-store.ts'
import { isRoot, makeRootfs, type RootfsFixture } from '../../helpers/rootfs.ts'
import { git, must, tempDir } from '../../helpers/run.ts'
import { writeFile } from 'node:fs/promises'

let tmp: Awaited<ReturnType<typeof tempDir>>
let store: GitObjectStore
let fixture: RootfsFixture
let rootfs: string
let gitDir: string

before(async () => {
  tmp = await tempDir('rootfs')
  rootfs = join(tmp.path, 'rootfs')
  gitDir = join(tmp.path, 'os.git')
  await must('git', ['init', '-q', '--bare', gitDir])
  if (isRoot) fixture = await makeRootfs(rootfs)
  store = await GitObjectStore.open(join(gitDir, 'objects'))
})

after(async () => {
  await store.close()
  await tmp.remove()
})

test('a root filesystem survives commit, capture, encode, decode and the tree view', { skip: !isRoot && 'needs root (mknod, chown)' }, async () => {
  const made = await commitRootfs(gitDir, rootfs, 'refs/heads/main', 'rootfs')
  assert.equal(made.changed, true)
  const catalogSizes = await sizesCatalog(store, made.tree)
  const bytes = encodeCatalog(rootfsCatalog(made.tree, await captureMetadata(rootfs), catalogSizes))
  const catalog = decodeCatalog(bytes)
  const view = await CommitView.open(store, made.commit, { catalog })

  assert.deepEqual([...await view.readdir('/')].sort(), ['.gitattributes', 'bin', 'dev', 'empty', 'etc', 'home', 'tmp'])
  assert.deepEqual(await view.readdir('/empty'), [])
  assert.deepEqual([...await view.readdir('/dev')].sort(), ['null', 'sda'])
  assert.equal((await view.stat('/bin/su')).mode, 0o104755)
  assert.equal((await view.stat('/bin/wall')).mode, 0o102755)
  assert.equal((await view.stat('/tmp')).mode, 0o041777)
  const nul = await view.stat('/dev/null')
  assert.equal(nul.mode, 0o020666)
  assert.equal(nul.rdev, makeDev(1, 3))
  assert.equal((await view.stat('/dev/sda')).rdev, makeDev(8, 0))
  assert.equal((await view.stat('/tmp/fifo')).kind, 'fifo')
  const a = await view.stat('/etc/a')
  const b = await view.stat('/etc/b')
  assert.equal(a.ino, b.ino)
  assert.equal(a.nlink, 2)
  assert.equal(a.mtime.getTime(), 1_600_000_000_000)
  const notes = await view.stat('/home/u/notes')
  assert.deepEqual([notes.uid, notes.gid], [1000, 1000])
  assert.equal((await view.stat('/bin/link')).kind, 'symlink')
  assert.equal(await view.readlink('/bin/link'), '../etc/a')
  assert.equal((await view.getxattr('/etc/a', 'user.test')).toString(), 'hello')
  if (fixture.caps) assert.ok((await view.listxattr('/bin/su')).includes('security.capability'))
  // Bytes are stored exactly: the rootfs's own .gitattributes (eol=crlf) was not applied.
  const h = await view.open('/bin/su')
  const buf = Buffer.alloc(64)
  const n = await h.read(buf, 64, 0)
  await h.close()
  assert.equal(buf.subarray(0, n).toString(), 'setuid binary\r\n')

  // The same directory again: no new commit; a changed file after the commit is caught.
  assert.equal((await commitRootfs(gitDir, rootfs, 'refs/heads/main', 'again')).changed, false)
  await writeFile(join(rootfs, 'etc', 'late'), 'written after the commit\n')
  const later = await captureMetadata(rootfs)
  assert.throws(() => rootfsCatalog(made.tree, later, catalogSizes), { code: 'ECHANGED' })
  assert.equal((await git(gitDir, 'rev-parse', 'refs/heads/main')).trim(), made.commit)
})

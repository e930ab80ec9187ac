/**
 * CommitView with a catalog: metadata from the catalog, catalog-only entries,
 * hard links, xattrs; and the view without a catalog unchanged.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { makeDev, type Catalog, type CatalogEntry } from '../../src/git/catalog.ts'
import { CommitView } from '../../src/repo/commit-view.ts'
import { GitObjectStore } from '../../src/store/object-store.ts'
import { git, tempDir } from '../helpers/run.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let store: GitObjectStore
let commit: string
let tree: string

before(async () => {
  tmp = await tempDir('view-catalog')
  const w = join(tmp.path, 'w')
  await mkdir(join(w, 'bin'), { recursive: true })
  await mkdir(join(w, 'sub'))
  await writeFile(join(w, 'a'), 'same')
  await writeFile(join(w, 'b'), 'same')
  await writeFile(join(w, 'bin', 'su'), 'su binary')
  await writeFile(join(w, 'sub', 'x'), 'x')
  await git(w, 'init', '-q')
  await git(w, 'add', '-A')
  await git(w, 'commit', '-q', '-m', 'c')
  commit = (await git(w, 'rev-parse', 'HEAD')).trim()
  tree = (await git(w, 'rev-parse', 'HEAD^{tree}')).trim()
  store = await GitObjectStore.open(join(w, '.git', 'objects'))
})

after(async () => {
  await store.close()
  await tmp.remove()
})

const meta = { uid: 0, gid: 0, mtime: 1_000_000 }
const d = (mode = 0o755): CatalogEntry => ({ type: 'dir', mode, ...meta })

function rootfsCatalog (): Catalog & { entries: Map<string, CatalogEntry> } {
  return {
    tree,
    rootfs: true,
    entries: new Map<string, CatalogEntry>([
      ['/', d()],
      ['/a', { type: 'file', size: 4, mode: 0o644, ...meta, link: 1, xattrs: { 'user.test': Buffer.from('v1').toString('base64') } }],
      ['/b', { type: 'file', size: 4, mode: 0o644, ...meta, link: 1, xattrs: { 'user.test': Buffer.from('v1').toString('base64') } }],
      ['/bin', d()],
      ['/bin/su', { type: 'file', size: 9, mode: 0o4755, uid: 0, gid: 0, mtime: 42 }],
      ['/dev', d()],
      ['/dev/null', { type: 'chardev', mode: 0o666, ...meta, rdev: [1, 3] }],
      ['/dev/sda', { type: 'blockdev', mode: 0o660, uid: 0, gid: 6, mtime: 1, rdev: [8, 0] }],
      ['/empty', d(0o700)],
      ['/fifo', { type: 'fifo', mode: 0o600, uid: 1000, gid: 100, mtime: 1 }],
      ['/sock', { type: 'socket', mode: 0o755, ...meta }],
      ['/sub', d()],
      ['/sub/x', { type: 'file', size: 1, mode: 0o600, uid: 1000, gid: 1000, mtime: 7 }]
    ])
  }
}

test('a rootfs catalog supplies modes, owners, devices, hard links, empty dirs and xattrs', async () => {
  const view = await CommitView.open(store, commit, { catalog: rootfsCatalog() })
  assert.deepEqual([...await view.readdir('/')].sort(), ['a', 'b', 'bin', 'dev', 'empty', 'fifo', 'sock', 'sub'])
  assert.deepEqual([...await view.readdir('/dev')].sort(), ['null', 'sda'])
  assert.deepEqual(await view.readdir('/empty'), [])

  const su = await view.stat('/bin/su')
  assert.equal(su.mode, 0o104755)
  assert.equal(su.mtime.getTime(), 42_000)
  const nul = await view.stat('/dev/null')
  assert.equal(nul.kind, 'chardev')
  assert.equal(nul.mode, 0o020666)
  assert.equal(nul.rdev, makeDev(1, 3))
  const sda = await view.stat('/dev/sda')
  assert.equal(sda.mode & 0o170000, 0o060000)
  assert.equal(sda.gid, 6)
  assert.equal((await view.stat('/fifo')).mode, 0o010600)
  assert.equal((await view.stat('/sock')).mode & 0o170000, 0o140000)
  const x = await view.stat('/sub/x')
  assert.deepEqual([x.uid, x.gid, x.mode], [1000, 1000, 0o100600])

  const a = await view.stat('/a')
  const b = await view.stat('/b')
  assert.equal(a.ino, b.ino)
  assert.equal(a.nlink, 2)
  assert.notEqual(a.ino, x.ino)

  const empty = await view.stat('/empty')
  assert.equal(empty.mode, 0o040700)
  assert.equal(empty.nlink, 2)
  assert.equal((await view.stat('/')).nlink, 2 + 4, 'root: bin, sub, dev, empty')
  assert.equal((await view.stat('/dev')).nlink, 2)

  assert.deepEqual(await view.listxattr('/a'), ['user.test'])
  assert.equal((await view.getxattr('/a', 'user.test')).toString(), 'v1')
  await assert.rejects(view.getxattr('/bin/su', 'user.test'), { code: 'ENOATTR' })
  await assert.rejects(view.open('/dev/null'), { code: 'EINVAL' })
  await assert.rejects(view.stat('/dev/nothing'), { code: 'ENOENT' })

  const h = await view.open('/bin/su')
  const buf = Buffer.alloc(32)
  assert.equal((await h.read(buf, 32, 0)), 9)
  await h.close()
})

test('a sizes catalog answers stat without blob headers', async () => {
  const sizes: Catalog = { tree, rootfs: false, entries: new Map([['/a', { type: 'file', size: 4 }], ['/bin/su', { type: 'file', size: 9 }]]) }
  let sizeCalls = 0
  const counting = {
    read: store.read.bind(store),
    openBlob: store.openBlob.bind(store),
    size: async (id: string) => { sizeCalls++; return await store.size(id) }
  }
  const view = await CommitView.open(counting, commit, { catalog: sizes })
  const a = await view.stat('/a')
  assert.equal(a.size, 4)
  assert.equal(a.mode, 0o100644)
  assert.equal(a.nlink, 1)
  assert.equal((await view.stat('/bin/su')).size, 9)
  assert.equal(sizeCalls, 0)
  assert.equal((await view.stat('/sub/x')).size, 1, 'paths the catalog does not list still work')
  assert.equal(sizeCalls, 1)
})

test('a catalog that does not match the commit fails with ECATALOG', async () => {
  await assert.rejects(CommitView.open(store, commit, { catalog: { ...rootfsCatalog(), tree: 'b'.repeat(40) } }), { code: 'ECATALOG' })
  const wrongType = rootfsCatalog()
  wrongType.entries.set('/a', { type: 'dir', mode: 0o755, ...meta })
  wrongType.entries.set('/b', { type: 'file', size: 4, mode: 0o644, ...meta })
  const v1 = await CommitView.open(store, commit, { catalog: wrongType })
  await assert.rejects(v1.stat('/a'), { code: 'ECATALOG' })
  const wrongSize: Catalog = { tree, rootfs: false, entries: new Map([['/a', { type: 'file', size: 5 }]]) }
  const v2 = await CommitView.open(store, commit, { catalog: wrongSize })
  assert.equal((await v2.stat('/a')).size, 5)
  await assert.rejects(v2.open('/a'), { code: 'ECATALOG' })
})

test('without a catalog the view is as before', async () => {
  const view = await CommitView.open(store, commit)
  assert.equal(view.hasCatalog, false)
  assert.deepEqual([...await view.readdir('/')].sort(), ['a', 'b', 'bin', 'sub'])
  const a = await view.stat('/a')
  assert.equal(a.mode, 0o100644)
  assert.equal(a.nlink, 1)
  assert.notEqual(a.ino, (await view.stat('/b')).ino)
  assert.deepEqual(await view.listxattr('/a'), [])
  await assert.rejects(view.stat('/dev'), { code: 'ENOENT' })
})

/**
 * The answers a view gives at once (statNow, openNow): only from memory, the
 * same as the awaited ones, and never in place of an error.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CommitView } from '../../src/repo/commit-view.ts'
import { GitObjectStore } from '../../src/store/object-store.ts'
import { git, tempDir, waitUntil } from '../helpers/run.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let repo: string
let head: string

before(async () => {
  tmp = await tempDir('view-now')
  repo = join(tmp.path, 'r')
  for (let d = 0; d < 3; d++) {
    await mkdir(join(repo, `d${d}`), { recursive: true })
    for (let f = 0; f < 4; f++) await writeFile(join(repo, `d${d}`, `f${f}`), `dir ${d} file ${f}\n`.repeat(d + 1))
  }
  await git(repo, 'init', '-q')
  await git(repo, 'add', '-A')
  await git(repo, '-c', 'user.name=T', '-c', 'user.email=t@e', 'commit', '-qm', 'x')
  await git(repo, 'gc', '-q') // packed, as the bench's wide repo: sizes come from pack entry headers
  head = (await git(repo, 'rev-parse', 'HEAD')).trim()
})

after(async () => { await tmp.remove() })


test('statNow answers a listed file from its pack header once that block is read, as stat does', async () => {
  const store = await GitObjectStore.open(join(repo, '.git', 'objects'))
  const fresh = await GitObjectStore.open(join(repo, '.git', 'objects'))
  try {
    const view = await CommitView.open(store, head)
    assert.equal(view.statNow('/d1/f2'), undefined, 'its directory is not listed yet')
    await view.readdir('/d1')
    await view.stat('/d1/f0') // reads the pack block that holds the small pack's entries
    const now = view.statNow('/d1/f2')
    assert.ok(now !== undefined)
    assert.deepEqual(now, await (await CommitView.open(fresh, head)).stat('/d1/f2'))
    assert.equal(now.size, 'dir 1 file 2\n'.length * 2)
    assert.equal(view.statNow('/d1/nope'), undefined, 'a missing name is stat\'s to refuse')
  } finally {
    await store.close()
    await fresh.close()
  }
})

test('openNow opens a file warmed since its directory was hinted, once; anything else goes to open', async () => {
  const store = await GitObjectStore.open(join(repo, '.git', 'objects'))
  try {
    const view = await CommitView.open(store, head)
    await view.readdir('/d2')
    assert.equal(view.openNow('/d2/f1'), undefined, 'not hinted yet: open hints the siblings')
    await (await view.open('/d2/f0')).close()
    await waitUntil('warming', () => (store.warm?.warmed ?? 0) >= 3)
    const h = view.openNow('/d2/f1')
    assert.ok(h?.readNow !== undefined)
    const buf = Buffer.alloc(64)
    const n = h.readNow(buf, 64, 0)
    assert.equal(buf.subarray(0, n).toString(), 'dir 2 file 1\n'.repeat(3))
    await h.close()
    assert.equal(view.openNow('/d2/f1'), undefined, 'a warmed blob is handed out once')
    const again = await view.open('/d2/f1')
    assert.equal(again.size, n)
    await again.close()
    assert.equal(view.openNow('/d2'), undefined)
    await assert.rejects(view.open('/d2'), { code: 'EISDIR' })
  } finally {
    await store.close()
  }
})

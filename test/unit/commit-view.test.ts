import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setWarnSink } from '../../src/log.ts'
import { CommitView, pathInode } from '../../src/repo/commit-view.ts'
import { GitObjectStore } from '../../src/store/object-store.ts'
import { git, must, tempDir } from '../helpers/run.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let repo: string
let commit: string
const warnings: string[] = []

before(async () => {
  tmp = await tempDir('view')
  repo = join(tmp.path, 'r')
  await mkdir(join(repo, 'd'), { recursive: true })
  await git(repo, 'init', '-q')
  await writeFile(join(repo, 'd', 'f.txt'), 'hello\n')
  await writeFile(join(repo, 'run'), '#!/bin/sh\n', { mode: 0o755 })
  await git(repo, 'add', '-A')
  const blob = (await git(repo, 'rev-parse', ':d/f.txt')).trim()
  const base = (await git(repo, 'write-tree')).trim()
  // A tree with entries fsck rejects, next to a good one, written with plumbing.
  const bad = (await must('git', ['-C', repo, 'mktree'], { input: `100644 blob ${blob}\t..\n100644 blob ${blob}\t.GIT\n100644 blob ${blob}\tok\n` })).trim()
  const listing = await git(repo, 'ls-tree', base)
  const top = (await must('git', ['-C', repo, 'mktree'], { input: `${listing}040000 tree ${bad}\tbad\n` })).trim()
  commit = (await must('git', ['-C', repo, '-c', 'user.name=T', '-c', 'user.email=t@e', 'commit-tree', top, '-m', 'x'], { env: { ...process.env, GIT_COMMITTER_DATE: '1700000000 +0000', GIT_AUTHOR_DATE: '1700000000 +0000' } })).trim()
  setWarnSink(m => { warnings.push(m) })
})

after(async () => { await tmp.remove() })

test('stat, readdir, open and read; unsafe names hidden with one warning per tree', async () => {
  const store = await GitObjectStore.open(join(repo, '.git', 'objects'))
  try {
    const view = await CommitView.open(store, commit)
    assert.deepEqual([...await view.readdir('/')].sort(), ['bad', 'd', 'run'])
    assert.deepEqual(await view.readdir('/bad'), ['ok'])
    assert.deepEqual(await view.readdir('/bad'), ['ok'])
    assert.equal(warnings.length, 1, 'warned once for the tree, not per listing')
    assert.match(warnings[0], /hiding 2 unsafe entries/)
    const st = await view.stat('/d/f.txt')
    assert.equal(st.size, 6)
    assert.equal(st.mode, 0o100644)
    assert.equal(st.mtime.getTime(), 1700000000_000)
    assert.equal(st.ino, pathInode('/d/f.txt'))
    assert.equal((await view.stat('/run')).mode, 0o100755)
    assert.equal((await view.stat('/')).nlink, 4, 'root: 2 + two subdirectories')
    const h = await view.open('/d/f.txt')
    const buf = Buffer.alloc(10)
    assert.equal(await h.read(buf, 10, 1), 5)
    assert.equal(buf.subarray(0, 5).toString(), 'ello\n')
    await h.close()
    await assert.rejects(view.stat('/bad/..'), { code: 'ENOENT' })
    await assert.rejects(view.stat('/bad/.GIT'), { code: 'ENOENT' })
    await assert.rejects(view.stat('/d/f.txt/x'), { code: 'ENOTDIR' })
    await assert.rejects(view.readdir('/run'), { code: 'ENOTDIR' })
    await assert.rejects(view.open('/d'), { code: 'EISDIR' })
    await assert.rejects(view.readlink('/run'), { code: 'EINVAL' })
    await assert.rejects(view.getxattr('/run', 'user.x'), { code: 'ENOATTR' })
  } finally {
    await store.close()
  }
})

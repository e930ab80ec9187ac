/**
 * Readahead across directories: a walk in tree order has the next directories'
 * files hinted, the window growing; random opens hint their siblings only.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CommitView, type ViewSource } from '../../src/repo/commit-view.ts'
import { GitObjectStore } from '../../src/store/object-store.ts'
import type { ObjectId } from '../../src/types.ts'
import { git, tempDir } from '../helpers/run.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let repo: string
const DIRS = 40
const FILES = 5

before(async () => {
  tmp = await tempDir('readahead')
  repo = join(tmp.path, 'r')
  await mkdir(repo, { recursive: true })
  await git(repo, 'init', '-q')
  for (let d = 0; d < DIRS; d++) {
    const dir = join(repo, `d${String(d).padStart(2, '0')}`)
    await mkdir(dir, { recursive: true })
    for (let f = 0; f < FILES; f++) await writeFile(join(dir, `f${f}`), `dir ${d} file ${f}\n`)
  }
  await git(repo, 'add', '-A')
  await git(repo, '-c', 'user.name=T', '-c', 'user.email=t@e', 'commit', '-qm', 'x')
})

after(async () => { await tmp.remove() })

async function viewWithHints (): Promise<{ view: CommitView, hinted: Set<ObjectId>, store: GitObjectStore }> {
  const store = await GitObjectStore.open(join(repo, '.git', 'objects'))
  const hinted = new Set<ObjectId>()
  const source: ViewSource = {
    read: async (id, o) => await store.read(id, o),
    size: async id => await store.size(id),
    openBlob: async id => await store.openBlob(id),
    prefetch: ids => { for (const id of ids) hinted.add(id) }
  }
  const head = (await git(repo, 'rev-parse', 'HEAD')).trim()
  return { view: await CommitView.open(source, head), hinted, store }
}

const settle = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 50)) }
const dirName = (d: number): string => `/d${String(d).padStart(2, '0')}`

async function blobsOf (d: number): Promise<ObjectId[]> {
  const out = await git(repo, 'ls-tree', `HEAD:${dirName(d).slice(1)}`)
  return out.trim().split('\n').map(l => l.split(/\s+/)[2])
}

test('a walk in tree order hints directories ahead of it', async () => {
  const { view, hinted, store } = await viewWithHints()
  try {
    for (let d = 0; d < 3; d++) {
      await (await view.open(`${dirName(d)}/f0`)).close()
      await settle()
    }
    // the walk is sequential by now: directories after d02 are hinted before anyone opens them
    for (const id of await blobsOf(5)) assert.ok(hinted.has(id), 'd05 hinted ahead of the walk')
    assert.ok(!(await blobsOf(DIRS - 1)).some(id => hinted.has(id)), 'but not the whole tree')
  } finally {
    await store.close()
  }
})

test('random opens hint their siblings only', async () => {
  const { view, hinted, store } = await viewWithHints()
  try {
    for (const d of [30, 2, 17, 39, 9]) {
      await (await view.open(`${dirName(d)}/f1`)).close()
      await settle()
    }
    for (const d of [30, 2, 17, 39, 9]) assert.ok((await blobsOf(d)).filter(id => hinted.has(id)).length >= FILES - 1)
    for (const d of [31, 3, 18, 10]) assert.ok(!(await blobsOf(d)).some(id => hinted.has(id)), `${dirName(d)} not hinted`)
  } finally {
    await store.close()
  }
})

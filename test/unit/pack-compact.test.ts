/**
 * Compaction of small packs (store/pack-compact.ts): many packs become one
 * that git accepts and the store reads, each id once, entries copied as
 * stored; the old packs leave; a pack with deltas (git's own) is left alone.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { hashObject } from '../../src/git/object-id.ts'
import { GitObjectStore } from '../../src/store/object-store.ts'
import { compactionDue, compactPacks } from '../../src/store/pack-compact.ts'
import type { ObjectType } from '../../src/types.ts'
import { git, tempDir } from '../helpers/run.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>

before(async () => { tmp = await tempDir('pack-compact') })
after(async () => { await tmp.remove() })

interface Obj { type: ObjectType, data: Buffer, id: string }

function blobs (prefix: string, n: number): Obj[] {
  return Array.from({ length: n }, (_, i) => {
    const data = Buffer.from(`${prefix} ${i} ${'z'.repeat((i * 4099) % 70_000)}\n`)
    return { type: 'blob' as const, data, id: hashObject('blob', data) }
  })
}

async function packNames (objectsDir: string): Promise<string[]> {
  return (await readdir(join(objectsDir, 'pack'))).filter(n => n.endsWith('.pack')).sort()
}

/** A bare repo whose store writes one pack per batch of `sizes[k]` new blobs. */
async function packedStore (name: string, sizes: number[]): Promise<{ dir: string, objectsDir: string, store: GitObjectStore }> {
  const dir = join(tmp.path, name)
  await git(tmp.path, 'init', '-q', '--bare', dir)
  const objectsDir = join(dir, 'objects')
  const store = await GitObjectStore.open(objectsDir, { packWrites: { flushMs: 60_000, minPackObjects: 1 } })
  for (const [k, n] of sizes.entries()) {
    await store.writeBatch(blobs(`${name} ${k}`, n))
    await store.flush()
  }
  return { dir, objectsDir, store }
}

test('small packs are merged into one that git accepts; every object reads back, each id once', async () => {
  const dir = join(tmp.path, 'merge')
  await git(tmp.path, 'init', '-q', '--bare', dir)
  const objectsDir = join(dir, 'objects')
  const store = await GitObjectStore.open(objectsDir, { packWrites: { flushMs: 60_000, minPackObjects: 1 } })
  const all: Obj[] = []
  try {
    for (let k = 0; k < 6; k++) {
      const batch = blobs(`pack ${k}`, 20)
      // an object of the previous batch again: it is in two packs
      if (k > 0) batch.push(all[all.length - 1])
      await store.writeBatch(batch)
      await store.flush()
      all.push(...batch.filter(o => !all.some(a => a.id === o.id)))
    }
    assert.equal(store.packList.length, 6)
    assert.deepEqual(compactionDue(store, { maxSmall: 6 }), [], 'not due at the limit')
    assert.equal(compactionDue(store, { maxSmall: 5 }).length, 6)
    const r = await compactPacks(store, { maxSmall: 5, graceMs: 0 })
    assert.ok(r !== null)
    assert.equal(r.merged, 6)
    assert.equal(r.objects, all.length)
    assert.equal(store.packList.length, 1)
    assert.deepEqual(await packNames(objectsDir), [r.pack.split('/').pop()])
    for (const o of all) assert.ok((await store.read(o.id)).data.equals(o.data), o.id)
    assert.equal(await compactPacks(store, { maxSmall: 5 }), null, 'nothing due after')
  } finally {
    await store.close()
  }
  const idx = (await readdir(join(objectsDir, 'pack'))).find(n => n.endsWith('.idx'))!
  await git(dir, 'verify-pack', join(objectsDir, 'pack', idx))
  const listed = (await git(dir, 'cat-file', '--batch-all-objects', '--batch-check')).trim().split('\n')
  assert.equal(listed.length, all.length)
  // a fresh store reads the merged pack from disk
  const again = await GitObjectStore.open(objectsDir)
  try {
    for (const o of all) assert.ok((await again.read(o.id)).data.equals(o.data), o.id)
  } finally {
    await again.close()
  }
})

test('only the smallest packs go in, up to the merged size; big packs stay', async () => {
  const { store } = await packedStore('sizes', [4, 14, 24, 34, 44])
  try {
    const sizes = store.packList.map(p => p.size).sort((a, b) => a - b)
    const biggest = store.packList.find(p => p.size === sizes[4])!
    // small: all but the biggest; merged: the three smallest fit
    const o = { smallBytes: sizes[4], maxSmall: 3, mergedBytes: sizes[0] + sizes[1] + sizes[2] }
    const due = compactionDue(store, o)
    assert.deepEqual(due.map(p => p.size), sizes.slice(0, 3))
    const r = await compactPacks(store, { ...o, graceMs: 0 })
    assert.equal(r?.merged, 3)
    assert.equal(store.packList.length, 3)
    assert.ok(store.packList.includes(biggest))
  } finally {
    await store.close()
  }
})

test('a pack with deltas (git repack) is left alone, and not chosen again', async () => {
  const dir = join(tmp.path, 'deltas')
  await git(tmp.path, 'init', '-q', dir)
  // similar files: git stores most as deltas
  const { writeFile } = await import('node:fs/promises')
  for (let i = 0; i < 4; i++) {
    await writeFile(join(dir, 'f.txt'), `${'line of text\n'.repeat(2000)}${i}\n`)
    await git(dir, 'add', 'f.txt')
    await git(dir, '-c', 'user.name=a', '-c', 'user.email=a@b', 'commit', '-qm', `c${i}`)
    // all in one pack with deltas, then the last commit in a pack of its own
    if (i === 2) await git(dir, 'repack', '-q', '-a', '-d')
  }
  await git(dir, 'repack', '-q')
  const objectsDir = join(dir, '.git', 'objects')
  const store = await GitObjectStore.open(objectsDir)
  try {
    assert.equal(store.packList.length, 2)
    const before = await packNames(objectsDir)
    const o = { maxSmall: 0, graceMs: 0 }
    assert.equal(compactionDue(store, o).length, 2)
    assert.equal(await compactPacks(store, o), null)
    assert.equal(compactionDue(store, o).length, 1, 'the pack with deltas is not chosen again')
    assert.deepEqual(await packNames(objectsDir), before, 'nothing moved')
    assert.equal((await readdir(join(objectsDir, 'pack'))).filter(n => n.startsWith('.tmp')).length, 0, 'no temp file left')
    await git(dir, 'fsck', '--no-dangling')
  } finally {
    await store.close()
  }
})

test('an entry that does not match its CRC-32 stops the compaction: nothing moves, no temp file stays', async () => {
  const { objectsDir, store } = await packedStore('crc', [10, 10, 10])
  try {
    const victim = store.packList[0]
    const { chmod, open } = await import('node:fs/promises')
    await chmod(victim.path, 0o644)
    const fh = await open(victim.path, 'r+')
    await fh.write(Buffer.from([0xff]), 0, 1, 40)
    await fh.close()
    const before = await packNames(objectsDir)
    await assert.rejects(compactPacks(store, { maxSmall: 1, graceMs: 0 }), { code: 'EBADCRC' })
    assert.deepEqual(await packNames(objectsDir), before)
    assert.equal((await readdir(join(objectsDir, 'pack'))).filter(n => n.startsWith('.tmp')).length, 0)
    assert.equal(store.packList.length, 3)
    assert.ok(!compactionDue(store, { maxSmall: 1 }).includes(victim), 'the bad pack is not chosen again')
  } finally {
    await store.close()
  }
})

test('the store keeper merges past 16 small packs once no pack was written since its last check, past 64 while packs come', async () => {
  const { StoreKeeper } = await import('../../src/daemon/store-keeper.ts')
  const { DEFAULTS } = await import('../../src/config.ts')
  const { store } = await packedStore('keeper', Array(18).fill(3))
  try {
    // only the store and the pack writer's figures are used by a compaction check
    const keeper = new StoreKeeper({ store, session: undefined as never, settings: DEFAULTS, paths: undefined as never, mounted: () => [] })
    await keeper.maybeCompact() // packs were written since the last check (there was none): 18 <= 64
    assert.equal(store.packList.length, 18)
    await keeper.maybeCompact() // nothing written since: 18 > 16
    assert.equal(store.packList.length, 1)
    assert.deepEqual(keeper.compacted, { runs: 1, packs: 18 })
  } finally {
    await store.close()
  }
})

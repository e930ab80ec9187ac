import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { readdir, utimes, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { deflateSync } from 'node:zlib'
import { hashObject } from '../../src/git/object-id.ts'
import { GitObjectStore } from '../../src/store/object-store.ts'
import { STALE_MS } from '../../src/store/pack-writer.ts'
import type { ObjectType } from '../../src/types.ts'
import { git, tempDir } from '../helpers/run.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>

before(async () => { tmp = await tempDir('pack-writer') })
after(async () => { await tmp.remove() })

/** A bare repo and some objects of every kind, blobs of many sizes (some over 2^4, 2^11, 2^18 bytes). */
async function fixture (name: string, n: number): Promise<{ dir: string, objects: Array<{ type: ObjectType, data: Buffer, id: string }> }> {
  const dir = join(tmp.path, name)
  await git(tmp.path, 'init', '-q', '--bare', dir)
  const objects: Array<{ type: ObjectType, data: Buffer, id: string }> = []
  for (let i = 0; i < n; i++) {
    const data = Buffer.from(`blob ${i} ${'y'.repeat((i * 7919) % 300_000)}\n`)
    objects.push({ type: 'blob', data, id: hashObject('blob', data) })
  }
  const tree = Buffer.concat(objects.slice(0, 3).map((o, i) => Buffer.concat([Buffer.from(`100644 f${i}\0`), Buffer.from(o.id, 'hex')])))
  const treeId = hashObject('tree', tree)
  const commit = Buffer.from(`tree ${treeId}\nauthor a <a@b> 0 +0000\ncommitter a <a@b> 0 +0000\n\nc\n`)
  objects.push({ type: 'tree', data: tree, id: treeId }, { type: 'commit', data: commit, id: hashObject('commit', commit) })
  objects.push({ type: 'blob', data: Buffer.alloc(0), id: hashObject('blob', Buffer.alloc(0)) })
  return { dir, objects }
}

test('bulk writes become one pack that git fsck and git cat-file accept and our reader reads', async () => {
  const { dir, objects } = await fixture('a', 120)
  const store = await GitObjectStore.open(join(dir, 'objects'), { packWrites: { flushMs: 60_000 } })
  try {
    await store.writeBatch(objects)
    // Held in memory, readable before the flush.
    assert.equal(store.held.objects, objects.length)
    for (const o of objects.slice(0, 5)) assert.deepEqual((await store.read(o.id)).data, o.data)
    // and at once (readNow): every held object, the right bytes
    for (const o of objects) assert.deepEqual(store.readNow(o.id), { type: o.type, data: o.data }, `held ${o.id}`)
    assert.equal(store.readNow('00'.repeat(20)), undefined, 'not here: undefined')
    await store.flush()
    assert.equal(store.held.objects, 0)
    assert.equal(store.held.flushed?.packs, 1)
  } finally {
    await store.close()
  }
  const packDir = join(dir, 'objects', 'pack')
  const names = (await readdir(packDir)).sort()
  assert.equal(names.length, 2, names.join())
  assert.match(names[0], /^pack-[0-9a-f]{40}\.idx$/)
  await git(dir, 'fsck', '--strict', '--no-dangling')
  await git(dir, 'verify-pack', join(packDir, names[1]))
  const listed = (await git(dir, 'cat-file', '--batch-all-objects', '--batch-check')).trim().split('\n')
  assert.equal(listed.length, objects.length)
  for (const o of objects.slice(0, 20)) {
    assert.equal(await git(dir, 'cat-file', '-t', o.id), `${o.type}\n`)
    assert.equal(Number(await git(dir, 'cat-file', '-s', o.id)), o.data.length)
  }
  // A fresh store (no memory of the writes) reads every object back from the pack.
  const again = await GitObjectStore.open(join(dir, 'objects'))
  try {
    for (const o of objects) {
      const got = await again.read(o.id)
      assert.equal(got.type, o.type)
      assert.ok(got.data.equals(o.data), o.id)
    }
  } finally {
    await again.close()
  }
})

test('a small batch goes loose, a sync write stays loose, flushes by count', async () => {
  const { dir, objects } = await fixture('b', 40)
  const store = await GitObjectStore.open(join(dir, 'objects'), { packWrites: { flushMs: 60_000, maxObjects: 30, minPackObjects: 10 } })
  try {
    for (const o of objects.slice(0, 30)) await store.write(o.type, o.data, o.id, { sync: false })
    await store.flush() // the 30th write started the flush: wait for it
    assert.equal(store.held.flushed?.packs, 1)
    for (const o of objects.slice(30, 35)) await store.write(o.type, o.data, o.id, { sync: false })
    const synced = objects[36]
    await store.write(synced.type, synced.data, synced.id)
    await store.flush()
    assert.equal(store.held.flushed?.looseObjects, 5)
    assert.equal(store.held.flushed?.packs, 1)
  } finally {
    await store.close()
  }
  await git(dir, 'fsck', '--no-dangling')
  const count = await git(dir, 'count-objects', '-v')
  assert.match(count, /^count: 6$/m)
  assert.match(count, /^in-pack: 30$/m)
})

test('a crash leaves no half pack visible; leftovers are ignored, then cleaned', async () => {
  const { dir, objects } = await fixture('c', 50)
  const packDir = join(dir, 'objects', 'pack')
  const store = await GitObjectStore.open(join(dir, 'objects'), { packWrites: { flushMs: 60_000 } })
  await store.writeBatch(objects)
  await store.close()
  // What a crash at each step would leave: temp files of a dead process, an
  // orphan .pack without its index, a truncated one of a live writer.
  const dead = 2 ** 22 + 12345 // above pid_max's default: no such process
  await writeFile(join(packDir, `.tmp-gtfs-${dead}-0-pack`), 'PACK\0\0\0\x02half')
  await writeFile(join(packDir, `.tmp-gtfs-${dead}-0-idx`), 'junk')
  const orphan = join(packDir, `pack-${'ab'.repeat(20)}.pack`)
  await writeFile(orphan, 'PACK\0\0\0\x02\0\0\0\x05torn')
  const fresh = join(packDir, `pack-${'cd'.repeat(20)}.pack`)
  await writeFile(fresh, 'PACK torn but young')
  const old = (Date.now() - STALE_MS - 60_000) / 1000
  await utimes(orphan, old, old)

  await git(dir, 'fsck', '--no-dangling')
  const reader = await GitObjectStore.open(join(dir, 'objects'))
  try {
    for (const o of objects) assert.ok((await reader.read(o.id)).data.equals(o.data))
  } finally {
    await reader.close()
  }
  // A store that writes packs cleans up when it opens; a young orphan may be another writer's.
  const writer = await GitObjectStore.open(join(dir, 'objects'), { packWrites: true })
  await writer.close()
  const left = await readdir(packDir)
  assert.ok(!left.some(n => n.startsWith('.tmp-gtfs-')), left.join())
  assert.ok(!left.includes(`pack-${'ab'.repeat(20)}.pack`))
  assert.ok(left.includes(`pack-${'cd'.repeat(20)}.pack`))
})

test('a bad hash is refused before anything is held', async () => {
  const { dir, objects } = await fixture('d', 3)
  const store = await GitObjectStore.open(join(dir, 'objects'), { packWrites: true })
  try {
    await assert.rejects(store.write('blob', Buffer.from('not it'), objects[0].id, { sync: false }), { code: 'EBADHASH' })
    assert.equal(store.held.objects, 0)
  } finally {
    await store.close()
  }
})

test('an object written with its zlib stream is packed with that stream as is, not deflated again; git reads it', async () => {
  const { dir, objects } = await fixture('z', 60)
  const store = await GitObjectStore.open(join(dir, 'objects'), { packWrites: { flushMs: 60_000 } })
  // level 9 streams: the writer's own level 1 would give other bytes
  const streams = new Map(objects.map(o => [o.id, deflateSync(o.data, { level: 9 })]))
  const half = objects.filter((_, i) => i % 2 === 0)
  try {
    for (const o of objects) {
      await store.write(o.type, o.data, o.id, { sync: false, verified: true, ...(half.includes(o) ? { deflated: streams.get(o.id)! } : {}) })
    }
    // held: a seeder hands the stream on before the pack exists
    assert.deepEqual((await store.readDeflated(half[0].id))?.deflated, streams.get(half[0].id))
    assert.equal(await store.readDeflated(objects[1].id), null)
    await store.flush()
    assert.equal(store.held.flushed?.reusedStreams, half.length)
    assert.equal(store.held.flushed?.packedObjects, objects.length)
    for (const o of half) assert.deepEqual((await store.readDeflated(o.id))?.deflated, streams.get(o.id), o.id)
  } finally {
    await store.close()
  }
  await git(dir, 'fsck', '--strict', '--no-dangling')
  for (const o of half.slice(0, 10)) assert.equal(Number(await git(dir, 'cat-file', '-s', o.id)), o.data.length)
})

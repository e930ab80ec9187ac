import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { readdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { hashObject } from '../../src/git/object-id.ts'
import { collectGarbage, loadLastUse, saveLastUse, storeUsage } from '../../src/store/eviction.ts'
import { GitObjectStore } from '../../src/store/object-store.ts'
import type { ObjectType } from '../../src/types.ts'
import { git, tempDir } from '../helpers/run.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
before(async () => { tmp = await tempDir('eviction') })
after(async () => { await tmp.remove() })

interface Obj { type: ObjectType, data: Buffer, id: string }

/** `n` incompressible blobs of ~`size` bytes, distinct per `tag`. */
function blobs (tag: string, n: number, size: number): Obj[] {
  return Array.from({ length: n }, (_, i) => {
    let x = (i + 1) * 2654435761 + tag.length * 97
    const data = Buffer.alloc(size)
    for (let j = 0; j < size; j++) { x = (x * 1103515245 + 12345) >>> 0; data[j] = x >>> 24 }
    Buffer.from(`${tag}${i}`).copy(data)
    return { type: 'blob' as const, data, id: hashObject('blob', data) }
  })
}

async function packOf (store: GitObjectStore, objects: Obj[]): Promise<string> {
  await store.writeBatch(objects)
  await store.flush()
  return basename(store.packList[0].path)
}

test('evicts least recently used packs and loose objects to the quota, keeps pins', async () => {
  const dir = join(tmp.path, 'lru')
  await git(tmp.path, 'init', '-q', '--bare', dir)
  const store = await GitObjectStore.open(join(dir, 'objects'), { packWrites: { flushMs: 60_000, minPackObjects: 4 } })
  try {
    const old = blobs('old', 40, 4096)
    const mid = blobs('mid', 40, 4096)
    const recent = blobs('new', 40, 4096)
    const pOld = await packOf(store, old)
    const pMid = await packOf(store, mid)
    const pNew = await packOf(store, recent)
    const loose = blobs('loose', 6, 4096)
    for (const o of loose) await store.write(o.type, o.data, o.id) // sync writes: loose
    const t0 = Date.now() - 3_600_000
    store.lastUse.set(pOld, t0)
    store.lastUse.set(loose[0].id, t0 + 1)
    store.lastUse.set(loose[1].id, t0 + 2)
    store.lastUse.set(pMid, t0 + 3)
    for (const o of loose.slice(2)) store.lastUse.set(o.id, t0 + 10)
    store.lastUse.set(pNew, t0 + 20)

    const pins = new Set([old[7].id, loose[0].id])
    const usage = await storeUsage(store, pins)
    assert.equal(usage.packed.packs, 3)
    assert.equal(usage.loose.objects, 6)
    assert.equal(usage.pinnedObjects, 2)
    // Room for about two packs: the oldest pack and the oldest unpinned loose object must go, then the middle pack.
    const quota = Math.floor(usage.totalBytes * 0.62)
    const r = await collectGarbage(store, { maxBytes: quota, pins, lowWater: 1, recentMs: 0 })
    assert.ok(r.after.totalBytes <= quota, `${r.after.totalBytes} > ${quota}`)
    assert.equal(r.overQuota, false)
    assert.equal(r.evicted.packs, 2)
    assert.equal(r.evicted.looseObjects, 1)
    assert.equal(r.kept, 1)
    const left = await readdir(join(dir, 'objects', 'pack'))
    assert.ok(!left.includes(pOld) && !left.includes(pMid) && left.includes(pNew), left.join())
    // Pinned objects survive (one copied out of its pack), recent ones stay, evicted ones are gone.
    assert.ok(await store.has(old[7].id))
    assert.ok(await store.has(loose[0].id))
    assert.ok(!(await store.has(loose[1].id)))
    assert.ok(!(await store.has(old[0].id)))
    assert.ok(!(await store.has(mid[0].id)))
    assert.ok(await store.has(recent[0].id))
    assert.ok(await store.has(loose[5].id))
    // A second run under quota does nothing.
    const again = await collectGarbage(store, { maxBytes: quota, pins, recentMs: 0 })
    assert.equal(again.freedBytes, 0)
  } finally {
    await store.close()
  }
  await git(dir, 'fsck', '--no-dangling')
  const fresh = await GitObjectStore.open(join(dir, 'objects'))
  try {
    assert.ok(await fresh.has(blobs('old', 40, 4096)[7].id))
  } finally {
    await fresh.close()
  }
})

test('recently used and pinned objects are kept even over quota; recency is persisted', async () => {
  const dir = join(tmp.path, 'pinned')
  await git(tmp.path, 'init', '-q', '--bare', dir)
  const store = await GitObjectStore.open(join(dir, 'objects'), { packWrites: { flushMs: 60_000, minPackObjects: 4 } })
  try {
    const a = blobs('a', 10, 2048)
    const p = await packOf(store, a)
    const r = await collectGarbage(store, { maxBytes: 1, pins: new Set() }) // just written: in use
    assert.equal(r.freedBytes, 0)
    assert.equal(r.overQuota, true)
    const file = join(tmp.path, 'last-use.json')
    store.lastUse.set(p, 1234)
    await saveLastUse(store, file)
    store.lastUse.clear()
    await loadLastUse(store, file)
    assert.equal(store.lastUse.get(p), 1234)
    const pinned = await collectGarbage(store, { maxBytes: 1, pins: new Set(a.map(o => o.id)), recentMs: 0 })
    // Every object is pinned: the pack is rewritten with all of them, nothing is lost.
    for (const o of a) assert.ok(await store.has(o.id))
    assert.equal(pinned.after.pinnedObjects, a.length)
  } finally {
    await store.close()
  }
})

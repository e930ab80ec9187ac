import assert from 'node:assert/strict'
import { test } from 'node:test'
import { hashObject } from '../../../src/git/object-id.ts'
import { Fetcher, type ObjectSink } from '../../../src/swarm/fetcher.ts'
import { PeerPool } from '../../../src/swarm/peer-pool.ts'
import type { GitObject, ObjectId, ObjectSource, ObjectType } from '../../../src/types.ts'
import { buildTree, MemorySource, pair, type Pair } from './helpers.ts'

/** A sink that checks every object it is handed, as the store would. */
class CheckingSink implements ObjectSink {
  readonly got = new Map<ObjectId, Buffer>()
  writes = 0
  async write (type: ObjectType, data: Buffer, id: ObjectId): Promise<void> {
    assert.equal(hashObject(type, data), id, 'the sink never sees a bad object')
    this.writes++
    this.got.set(id, data)
  }
}

function blobs (src: MemorySource, n: number, tag = ''): ObjectId[] {
  return Array.from({ length: n }, (_, i) => src.add('blob', Buffer.from(`blob ${tag}${i}\n`)))
}

const stuck: ObjectSource = { read: async (): Promise<GitObject> => await new Promise<GitObject>(() => {}), has: async () => true }
const liar: ObjectSource = { read: async (): Promise<GitObject> => ({ type: 'blob', data: Buffer.from('lies') }), has: async () => true }

async function poolOf (...pairs: Pair[]): Promise<PeerPool> {
  const pool = new PeerPool()
  for (const p of pairs) assert.ok(pool.add(p.client))
  return pool
}

function closeAll (pool: PeerPool, pairs: Pair[]): void {
  pool.close()
  for (const p of pairs) { p.client.destroy(); p.server.destroy() }
}

test('with one hostile peer of two, the fetch finishes from the honest one and the liar is banned', async () => {
  const src = new MemorySource()
  const ids = blobs(src, 200)
  const pairs = [await pair({ source: liar }, {}, 'liar:1'), await pair({ source: src }, {}, 'honest:1')]
  const pool = await poolOf(...pairs)
  const sink = new CheckingSink()
  const f = new Fetcher({ pool, sink, batchSize: 16 })
  await f.fetch(ids)
  assert.equal(sink.got.size, 200)
  assert.ok(pool.isBanned('liar:1'))
  assert.ok(!pool.isBanned('honest:1'))
  assert.equal(pool.ready().length, 1)
  assert.ok(f.stats.retries > 0)
  closeAll(pool, pairs)
})

test('"do not have" sends the batch to another peer, without a ban', async () => {
  const src = new MemorySource()
  const ids = blobs(src, 50)
  const pairs = [await pair({ source: new MemorySource(), repoKeys: ['ab'.repeat(32)] }, {}, 'empty:1'), await pair({ source: src }, {}, 'full:1')]
  const pool = await poolOf(...pairs)
  const sink = new CheckingSink()
  await new Fetcher({ pool, sink }).fetch(ids)
  assert.equal(sink.got.size, 50)
  assert.equal(pool.banned().length, 0)
  closeAll(pool, pairs)
})

test('a batch that times out goes elsewhere; a peer that keeps timing out is dropped and banned', async () => {
  const src = new MemorySource()
  const ids = blobs(src, 10)
  const pairs = [await pair({ source: stuck }, {}, 'slow:1'), await pair({ source: src }, {}, 'good:1')]
  const pool = new PeerPool({ maxTimeouts: 1 })
  for (const p of pairs) pool.add(p.client)
  const sink = new CheckingSink()
  const started = Date.now()
  await new Fetcher({ pool, sink, batchSize: 5, requestTimeoutMs: 100 }).fetch(ids)
  assert.equal(sink.got.size, 10)
  assert.ok(Date.now() - started < 2000)
  assert.ok(pool.isBanned('slow:1'))
  closeAll(pool, pairs)
})

test('concurrent fetches of one object share one transfer', async () => {
  const src = new MemorySource()
  const ids = blobs(src, 30)
  const pairs = [await pair({ source: src })]
  const pool = await poolOf(...pairs)
  const sink = new CheckingSink()
  const f = new Fetcher({ pool, sink })
  await Promise.all([f.fetch(ids), f.fetch(ids), f.fetch(ids.slice(0, 10)), f.fetch([ids[5]])])
  assert.equal(src.reads, 30)
  assert.equal(sink.writes, 30)
  assert.equal(f.inflight, 0)
  closeAll(pool, pairs)
})

test('one caller giving up does not cancel the transfer for another', async () => {
  const src = new MemorySource()
  const ids = blobs(src, 5)
  const pairs = [await pair({ source: src })]
  const pool = await poolOf(...pairs)
  const sink = new CheckingSink()
  const f = new Fetcher({ pool, sink })
  const ac = new AbortController()
  const quitter = f.fetch(ids, { signal: ac.signal })
  const stayer = f.fetch(ids)
  ac.abort(new Error('changed my mind'))
  await assert.rejects(quitter, /changed my mind/)
  await stayer
  assert.equal(sink.got.size, 5)
  closeAll(pool, pairs)
})

test('a tree closure lands in the sink before fetch resolves', async () => {
  const src = new MemorySource()
  const { root, all } = buildTree(src, 4, 5)
  const pairs = [await pair({ source: src })]
  const pool = await poolOf(...pairs)
  const sink = new CheckingSink()
  await new Fetcher({ pool, sink }).fetch([root], { depth: 64 })
  assert.deepEqual([...sink.got.keys()].sort(), [...all].sort())
  closeAll(pool, pairs)
})

test('work spreads over several honest peers', async () => {
  const src = new MemorySource()
  const ids = blobs(src, 600)
  const pairs = [await pair({ source: src }, {}, 'a:1'), await pair({ source: src }, {}, 'b:1'), await pair({ source: src }, {}, 'c:1')]
  const pool = await poolOf(...pairs)
  const sink = new CheckingSink()
  await new Fetcher({ pool, sink, batchSize: 8 }).fetch(ids)
  assert.equal(sink.got.size, 600)
  const served = pairs.map(p => p.server.stats.objectsOut)
  assert.equal(served.reduce((a, b) => a + b, 0), 600)
  assert.ok(served.every(n => n > 0), `served ${served.join(',')}`)
  closeAll(pool, pairs)
})

test('nobody has it: ENOTFOUND at once; no peers at all: ETIMEOUT at the deadline', async () => {
  const pairs = [await pair({ source: new MemorySource() })]
  const pool = await poolOf(...pairs)
  // ENOTFOUND, not ETIMEOUT: it did not wait for the deadline
  const f = new Fetcher({ pool, sink: new CheckingSink(), deadlineMs: 5000 })
  await assert.rejects(f.fetch([hashObject('blob', Buffer.from('nowhere'))]), { code: 'ENOTFOUND' })
  closeAll(pool, pairs)

  const empty = new PeerPool()
  const g = new Fetcher({ pool: empty, sink: new CheckingSink(), deadlineMs: 200 })
  const t0 = Date.now()
  await assert.rejects(g.fetch([hashObject('blob', Buffer.from('nowhere'))]), { code: 'ETIMEOUT' })
  assert.ok(Date.now() - t0 < 1000)
  empty.close()
})

test('a failing sink fails the fetch with its own error and bans nobody', async () => {
  const src = new MemorySource()
  const ids = blobs(src, 3)
  const pairs = [await pair({ source: src })]
  const pool = await poolOf(...pairs)
  const sink: ObjectSink = { write: async () => { throw Object.assign(new Error('disk full'), { code: 'ENOSPC' }) } }
  await assert.rejects(new Fetcher({ pool, sink }).fetch(ids), { code: 'ENOSPC' })
  assert.equal(pool.banned().length, 0)
  closeAll(pool, pairs)
})

test('a banned address is refused when it comes back, until the ban expires', async () => {
  let now = 1000
  const pool = new PeerPool({ banMs: 500, now: () => now })
  pool.ban('bad:1', 'test')
  const p = await pair({}, {}, 'bad:1')
  assert.equal(pool.add(p.client), false)
  assert.equal(p.client.closed, true)
  now += 600
  const q = await pair({}, {}, 'bad:1')
  assert.equal(pool.add(q.client), true)
  closeAll(pool, [p, q])
})

test('when the last caller gives up, the transfer is cancelled at the peer', async () => {
  const pairs = [await pair({ source: stuck })]
  const pool = await poolOf(...pairs)
  const f = new Fetcher({ pool, sink: new CheckingSink() })
  const ac = new AbortController()
  const p = f.fetch([hashObject('blob', Buffer.from('slow'))], { signal: ac.signal })
  await new Promise(resolve => setTimeout(resolve, 20))
  assert.equal(pairs[0].client.inflight, 1)
  ac.abort(new Error('bye'))
  await assert.rejects(p, /bye/)
  await new Promise(resolve => setTimeout(resolve, 20))
  assert.equal(pairs[0].client.inflight, 0)
  assert.equal(f.inflight, 0)
  assert.equal(pairs[0].client.closed, false)
  closeAll(pool, pairs)
})

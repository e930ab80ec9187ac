/**
 * The Fetcher's scheduling over in-memory peer pairs: all peers pull at once,
 * the origin is asked last (but adds its upload where the others' is the
 * limit), a slow peer's batch is stolen by an idle one, and a
 * peer that dies mid-batch has its ids asked elsewhere.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { hashObject } from '../../../src/git/object-id.ts'
import { Fetcher, type ObjectSink } from '../../../src/swarm/fetcher.ts'
import { decodeMessage, encodeMessage } from '../../../src/swarm/messages.ts'
import { PeerPool } from '../../../src/swarm/peer-pool.ts'
import { TokenBucket } from '../../../src/swarm/rate-limit.ts'
import type { AbortOptions, GitObject, ObjectId, ObjectSource, ObjectType } from '../../../src/types.ts'
import { bytes, MemorySource, pair, type Pair } from './helpers.ts'

class Sink implements ObjectSink {
  readonly got = new Map<ObjectId, Buffer>()
  async write (type: ObjectType, data: Buffer, id: ObjectId): Promise<void> {
    assert.equal(hashObject(type, data), id)
    this.got.set(id, data)
  }
}

const opened: Array<{ pool: PeerPool, pairs: Pair[] }> = []
after(() => { for (const o of opened) closeAll(o.pool, o.pairs) })

function closeAll (pool: PeerPool, pairs: Pair[]): void {
  pool.close()
  for (const p of pairs) { p.client.destroy(); p.server.destroy() }
}

/** A pool of the pairs' clients, closed after the file's tests even when one fails. */
function poolOf (pairs: Pair[], later: Pair[] = []): PeerPool {
  const pool = new PeerPool()
  for (const p of pairs) pool.add(p.client)
  opened.push({ pool, pairs: [...pairs, ...later] })
  return pool
}

/** A source that holds `ids` back (never answers for them) until released. */
class HoldingSource implements ObjectSource {
  private release!: () => void
  private readonly released = new Promise<void>(resolve => { this.release = resolve })
  constructor (private readonly inner: MemorySource, private readonly held: Set<ObjectId>) {}
  async read (id: ObjectId, opts?: AbortOptions): Promise<GitObject> {
    if (this.held.has(id)) await this.released
    return await this.inner.read(id, opts)
  }

  async has (id: ObjectId): Promise<boolean> { return await this.inner.has(id) }
  free (): void { this.release() }
}

test('hello carries the origin flag, and only when set', () => {
  const base = { t: 'hello' as const, versions: [1], keys: [], maxRequests: 16, maxBatch: 256 }
  assert.deepEqual(decodeMessage(encodeMessage({ ...base, origin: true })), { ...base, origin: true })
  assert.deepEqual(decodeMessage(encodeMessage(base)), base)
})

test('rate-limited peers are all pulled from at once, each doing a real share', async () => {
  const src = new MemorySource()
  const ids = Array.from({ length: 160 }, (_, i) => src.add('blob', bytes(8 * 1024, i + 1)))
  const rate = 2 * 1024 * 1024 // 1.3 MB in all: ~0.65 s from one peer
  const pairs: Pair[] = []
  for (let i = 0; i < 4; i++) pairs.push(await pair({ source: src, limiter: new TokenBucket(rate, 64 * 1024) }, {}, `p${i}:1`))
  const pool = poolOf(pairs)
  const sink = new Sink()
  await new Fetcher({ pool, sink, batchSize: 16 }).fetch(ids)
  assert.equal(sink.got.size, 160)
  const served = pairs.map(p => p.server.stats.objectsOut)
  assert.equal(served.reduce((a, b) => a + b, 0), 160)
  // every peer did a real share of the work (a lone peer would have done all of it)
  assert.ok(served.every(n => n >= 160 / 8), `served ${served.join(',')}`)
  closeAll(pool, pairs)
})

test('the origin is asked last: readers that hold a copy serve, the origin only when alone', async () => {
  const src = new MemorySource()
  const ids = Array.from({ length: 100 }, (_, i) => src.add('blob', Buffer.from(`object ${i}\n`)))
  const origin = await pair({ source: src, origin: true }, {}, 'origin:1')
  const reader = await pair({ source: src }, {}, 'reader:1')
  assert.equal(origin.client.remoteHello?.origin, true)
  assert.equal(reader.client.remoteHello?.origin, undefined)
  const pool = poolOf([origin, reader])
  await new Fetcher({ pool, sink: new Sink(), batchSize: 8 }).fetch(ids)
  assert.equal(origin.server.stats.objectsOut, 0)
  assert.equal(reader.server.stats.objectsOut, 100)

  const more = Array.from({ length: 10 }, (_, i) => src.add('blob', Buffer.from(`more ${i}\n`)))
  reader.client.destroy()
  await new Fetcher({ pool, sink: new Sink() }).fetch(more)
  assert.equal(origin.server.stats.objectsOut, 10)
  closeAll(pool, [origin, reader])
})

test('a reader waiting goes to the origin once the other peers are full, not into their backlog', async () => {
  const src = new MemorySource()
  const warm = Array.from({ length: 40 }, (_, i) => src.add('blob', bytes(8 * 1024, 1000 + i)))
  const ids = Array.from({ length: 200 }, (_, i) => src.add('blob', bytes(8 * 1024, 2000 + i)))
  const rate = 1024 * 1024
  const origin = await pair({ source: src, origin: true, limiter: new TokenBucket(rate, 64 * 1024) }, {}, 'origin:1')
  const reader = await pair({ source: src, limiter: new TokenBucket(rate, 64 * 1024) }, {}, 'reader:1')
  const pool = poolOf([origin, reader])
  // no stealing: only the choice of peer puts work at the origin
  const f = new Fetcher({ pool, sink: new Sink(), batchSize: 16, stealAfterMs: 60_000 })
  // the reader's rate gets measured; it has room for all of this
  await f.fetch(warm)
  assert.equal(origin.server.stats.objectsOut, 0)
  // 1.6 MB: beyond what the reader delivers in the horizon, and fewer batches
  // than its request slots; what is past its room goes to the origin
  await f.fetch(ids)
  const fromOrigin = origin.server.stats.objectsOut
  assert.ok(fromOrigin >= 20 && fromOrigin <= 180, `the origin sent ${fromOrigin} of 200`)
  closeAll(pool, [origin, reader])
})

/**
 * A reader's walk: `dirs` fetches of `per` 8 KiB blobs each, as prefetches, at
 * most `ahead` out at once, the next one asked as soon as one is in (one
 * directory hinted per directory read).
 */
async function walk (f: Fetcher, src: MemorySource, dirs: number, per: number, ahead: number, seed: number): Promise<void> {
  const batches = Array.from({ length: dirs }, (_, d) => Array.from({ length: per }, (_, i) => src.add('blob', bytes(8 * 1024, seed + d * per + i))))
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < batches.length) await f.fetch(batches[next++], { background: true })
  }
  await Promise.all(Array.from({ length: ahead }, lane))
}

test('the origin adds its upload when the readers that hold a copy are the limit, one directory at a time', async () => {
  const src = new MemorySource()
  const rate = 2 * 1024 * 1024
  const origin = await pair({ source: src, origin: true, limiter: new TokenBucket(rate, 64 * 1024) }, {}, 'origin:1')
  const reader = await pair({ source: src, limiter: new TokenBucket(rate, 64 * 1024) }, {}, 'reader:1')
  const pool = poolOf([origin, reader])
  const f = new Fetcher({ pool, sink: new Sink(), stealAfterMs: 60_000 })
  // 6 directories of 20 out at once: under the reader's room (1 MiB), so it
  // never looks full, but ~0.5 s of work at its rate
  await walk(f, src, 24, 20, 6, 5000)
  const fromOrigin = origin.server.stats.objectsOut
  assert.ok(fromOrigin >= 480 / 4, `the origin sent ${fromOrigin} of 480`)
  closeAll(pool, [origin, reader])
})

test('a reader that is behind gives way to another reader that is not, before the origin', async () => {
  const src = new MemorySource()
  const origin = await pair({ source: src, origin: true }, {}, 'origin:1')
  const a = await pair({ source: src, limiter: new TokenBucket(8 * 1024 * 1024, 64 * 1024) }, {}, 'a:1')
  const b = await pair({ source: src, limiter: new TokenBucket(1024 * 1024, 64 * 1024) }, {}, 'b:1')
  const pool = poolOf([origin, a, b])
  // "Behind" from 1 ms of work outstanding. The peer pool rates a by its
  // throughput per open request, so it is picked while it has a batch out
  // (behind) and b has none. The origin took 280 of the 480 objects when
  // only the picked reader's backlog counted; now b takes them first.
  await walk(new Fetcher({ pool, sink: new Sink(), stealAfterMs: 60_000, originAfterMs: 1 }), src, 24, 20, 3, 7000)
  const fromOrigin = origin.server.stats.objectsOut
  assert.ok(fromOrigin <= 480 / 4, `the origin sent ${fromOrigin} of 480 (a ${a.server.stats.objectsOut}, b ${b.server.stats.objectsOut})`)
  assert.ok(b.server.stats.objectsOut > 0)
  closeAll(pool, [origin, a, b])
})

test('the origin stays idle when a reader that holds a copy keeps up with the same walk', async () => {
  const src = new MemorySource()
  const origin = await pair({ source: src, origin: true }, {}, 'origin:1')
  const reader = await pair({ source: src }, {}, 'reader:1')
  const pool = poolOf([origin, reader])
  await walk(new Fetcher({ pool, sink: new Sink(), stealAfterMs: 60_000 }), src, 24, 20, 6, 9000)
  assert.equal(origin.server.stats.objectsOut, 0)
  assert.equal(reader.server.stats.objectsOut, 480)
  closeAll(pool, [origin, reader])
})

test('a prefetch fills a peer only to its room in the catalog\'s bytes, not in a mean that small objects set', async () => {
  const src = new MemorySource()
  // 300 small objects first: the mean object size is ~100 bytes
  const small = Array.from({ length: 300 }, (_, i) => src.add('blob', Buffer.from(`small object ${i} `.padEnd(100, '.'))))
  const ids = Array.from({ length: 400 }, (_, i) => src.add('blob', bytes(8 * 1024, 7000 + i)))
  const sizes = new Map(ids.map(id => [id, 8 * 1024]))
  const rate = 2 * 1024 * 1024
  const first = await pair({ source: src, limiter: new TokenBucket(rate, 64 * 1024) }, {}, 'first:1')
  const late = await pair({ source: src, limiter: new TokenBucket(rate, 64 * 1024) }, {}, 'late:1')
  const pool = poolOf([first], [late])
  // no stealing: only the choice of peer spreads the work
  const f = new Fetcher({ pool, sink: new Sink(), stealAfterMs: 60_000 })
  await f.fetch(small)
  // 3.2 MB, ~1.6 s from one peer; by the mean, all of it fit the first
  // peer's room (16 requests of 64) before the second one was there
  const all = f.fetch(ids, { background: true, sizeOf: id => sizes.get(id) })
  await new Promise(resolve => setTimeout(resolve, 100))
  pool.add(late.client)
  await all
  const fromLate = late.server.stats.objectsOut
  assert.ok(fromLate >= 400 / 4, `the peer that came 100 ms later sent ${fromLate} of 400`)
  closeAll(pool, [first, late])
})

test('a batch stuck at a slow peer is taken over by an idle one, without waiting for the timeout', async () => {
  const src = new MemorySource()
  const ids = Array.from({ length: 6 }, (_, i) => src.add('blob', Buffer.from(`slow ${i}\n`)))
  const holding = new HoldingSource(src, new Set(ids.slice(3)))
  const slow = await pair({ source: holding }, {}, 'slow:1')
  const fast = await pair({ source: src }, {}, 'fast:1')
  const pool = poolOf([slow], [fast])
  const sink = new Sink()
  const f = new Fetcher({ pool, sink, requestTimeoutMs: 10_000, stealAfterMs: 100 })
  const t0 = Date.now()
  const done = f.fetch(ids)
  // the slow peer has the whole batch before the fast one shows up
  await new Promise(resolve => setTimeout(resolve, 50))
  pool.add(fast.client)
  await done
  const ms = Date.now() - t0
  assert.equal(sink.got.size, 6)
  assert.ok(f.stats.stolen >= 1, 'a batch was stolen')
  assert.ok(ms < 2000, `took ${ms} ms`)
  assert.ok(fast.server.stats.objectsOut >= 3, `the fast peer sent ${fast.server.stats.objectsOut}`)
  assert.equal(pool.banned().length, 0, 'slow is not a fault')
  holding.free()
  closeAll(pool, [slow, fast])
})

test('objects settle as they arrive: a fetch of one id does not wait for the rest of its batch', async () => {
  const src = new MemorySource()
  const ids = Array.from({ length: 4 }, (_, i) => src.add('blob', Buffer.from(`early ${i}\n`)))
  const holding = new HoldingSource(src, new Set([ids[3]]))
  const p = await pair({ source: holding }, {}, 'one:1')
  const pool = poolOf([p])
  const f = new Fetcher({ pool, sink: new Sink(), stealAfterMs: 60_000 })
  const all = f.fetch(ids)
  await f.fetch([ids[0]]) // rides on the same transfer; resolves although ids[3] is held
  holding.free()
  await all
  closeAll(pool, [p])
})

test('a peer that dies mid-batch has its ids asked of another peer', async () => {
  const src = new MemorySource()
  const ids = Array.from({ length: 8 }, (_, i) => src.add('blob', Buffer.from(`dies ${i}\n`)))
  const holding = new HoldingSource(src, new Set(ids))
  const dying = await pair({ source: holding }, {}, 'dying:1')
  const good = await pair({ source: src }, {}, 'good:1')
  const pool = poolOf([dying], [good])
  const sink = new Sink()
  const f = new Fetcher({ pool, sink, stealAfterMs: 60_000 })
  const done = f.fetch(ids)
  await new Promise(resolve => setTimeout(resolve, 30))
  pool.add(good.client)
  dying.server.destroy()
  await done
  assert.equal(sink.got.size, 8)
  assert.equal(good.server.stats.objectsOut, 8)
  assert.ok(f.stats.retries >= 8)
  holding.free()
  closeAll(pool, [dying, good])
})

test('a reader waiting for an object a prefetch has queued gets it at once, ahead of the prefetch', async () => {
  const src = new MemorySource()
  const ids = Array.from({ length: 120 }, (_, i) => src.add('blob', bytes(64 * 1024, 1000 + i)))
  const slow = await pair({ source: src, limiter: new TokenBucket(4 * 1024 * 1024, 64 * 1024) }, {}, 'slow:1')
  const pool = poolOf([slow])
  const sink = new Sink()
  const f = new Fetcher({ pool, sink, stealAfterMs: 60_000 })
  const prefetch = f.fetch(ids, { background: true })
  await new Promise(resolve => setTimeout(resolve, 20))
  await f.fetch([ids[ids.length - 1]]) // the last one: queued behind the prefetch's room
  assert.ok(sink.got.size < ids.length / 2, `the reader waited for ${sink.got.size} prefetched objects`)
  await prefetch
  assert.equal(sink.got.size, ids.length)
})

test('what is out at each peer and what waits shows while a fetch runs (gtfs status), and clears after', async () => {
  const src = new MemorySource()
  // 40 x 8 KiB: past the bytes after which a peer's rate counts
  const ids = Array.from({ length: 40 }, (_, i) => src.add('blob', bytes(8 * 1024, 500 + i)))
  const later = src.add('blob', Buffer.from('ahead\n'))
  const holding = new HoldingSource(src, new Set([ids[39], later]))
  const p = await pair({ source: holding }, {}, 'held:1')
  const pool = poolOf([p])
  const f = new Fetcher({ pool, sink: new Sink(), batchSize: 40, stealAfterMs: 60_000 })
  assert.deepEqual(f.peerLoad(p.client), { requests: 0, owedBytes: 0, bytesPerSec: 0 })
  const done = f.fetch(ids)
  const ahead = f.fetch([later], { background: true })
  // every object but the held ones arrives; the requests stay open for them
  for (let i = 0; i < 100 && f.stats.objects < 39; i++) await new Promise(resolve => setTimeout(resolve, 10))
  assert.equal(f.stats.objects, 39)
  const load = f.peerLoad(p.client)
  assert.equal(load.requests, 2)
  assert.ok(load.owedBytes > 0, `owed ${load.owedBytes}`)
  assert.ok(load.bytesPerSec > 0, 'measured after 312 KiB')
  assert.equal(f.backlog.wait.pending, 1)
  assert.equal(f.backlog.wait.queued, 0)
  assert.equal(f.backlog.ahead.pending, 1)
  holding.free()
  await Promise.all([done, ahead])
  // an object settles as it arrives; its request closes when the peer's answer ends
  for (let i = 0; i < 100 && f.peerLoad(p.client).requests > 0; i++) await new Promise(resolve => setTimeout(resolve, 10))
  assert.deepEqual({ ...f.peerLoad(p.client), bytesPerSec: 0 }, { requests: 0, owedBytes: 0, bytesPerSec: 0 })
  assert.deepEqual(f.backlog, { wait: { queued: 0, pending: 0 }, ahead: { queued: 0, pending: 0 } })
  closeAll(pool, [p])
})

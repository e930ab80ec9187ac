/**
 * Objects as zlib streams (`object` with zs, negotiated by hello zl: 1): sent
 * as stored, inflated to exactly the announced size, hashed, and handed on
 * with their stream; every lie about them drops the peer; a peer without the
 * flag gets and sends the plain form.
 */
import assert from 'node:assert/strict'
import { deflateSync } from 'node:zlib'
import { test } from 'node:test'
import { decodeMessage, encodeMessage, MAX_NON_BLOB_BYTES, type HelloMessage, type ObjectMessage } from '../../../src/swarm/messages.ts'
import { Fetcher } from '../../../src/swarm/fetcher.ts'
import { Peer, type VerifiedObject } from '../../../src/swarm/peer.ts'
import { RangeAssembly, WantAssembly } from '../../../src/swarm/peer-request.ts'
import { PeerPool } from '../../../src/swarm/peer-pool.ts'
import { inflateExact, zlibBound } from '../../../src/swarm/zlib-object.ts'
import type { DeflatedObject, ObjectId } from '../../../src/types.ts'
import { buildTree, bytes, INFOHASH, MemorySource, pair } from './helpers.ts'

/** A source that also hands out each object's zlib stream, as a pack would; `spoil` makes it lie. */
class ZlibSource extends MemorySource {
  deflatedReads = 0
  spoil?: (z: DeflatedObject) => DeflatedObject
  async readDeflated (id: ObjectId): Promise<DeflatedObject | null> {
    const o = this.objects.get(id)
    if (o === undefined) return null
    this.deflatedReads++
    const z = { type: o.type, size: o.data.length, deflated: deflateSync(o.data, { level: 1 }) }
    return this.spoil?.(z) ?? z
  }
}

function violations (p: Peer): Error[] {
  const out: Error[] = []
  p.on('violation', (err: Error) => { out.push(err) })
  return out
}

const id = 'ab'.repeat(20)

test('zs and zl round-trip; a stream longer than zlib\'s bound or an inflated size over the cap is refused when decoded', () => {
  const m: ObjectMessage = { t: 'object', r: 2, id, type: 'blob', off: 0, total: 3, data: Buffer.from('abc'), zsize: 10 }
  assert.deepEqual(decodeMessage(encodeMessage(m)), m)
  const hello: HelloMessage = { t: 'hello', versions: [1], keys: [], maxRequests: 16, maxBatch: 256, zlib: true }
  assert.deepEqual(decodeMessage(encodeMessage(hello)), hello)
  const idb = `20:${'x'.repeat(20)}`
  for (const bad of [
    `d4:data1:x2:id${idb}3:offi0e1:ri1e5:totali${zlibBound(10) + 1}e2:ty4:blob2:zsi10ee`, // total past the bound
    `d4:data1:x2:id${idb}3:offi0e1:ri1e5:totali1e2:ty4:blob2:zsi-1ee`, // negative size
    `d4:data1:x2:id${idb}3:offi0e1:ri1e5:totali1e2:ty4:blob2:zs1:xe`, // not an integer
    'd4:keysle2:mbi1e2:mri1e1:t5:hello1:vli1ee2:zli0ee' // zl other than 1
  ]) assert.throws(() => decodeMessage(Buffer.from(bad), { maxObjectBytes: 100 }), { code: 'EPROTO' }, bad)
  assert.throws(() => decodeMessage(Buffer.from(`d4:data1:x2:id${idb}3:offi0e1:ri1e5:totali1e2:ty4:blob2:zsi101ee`), { maxObjectBytes: 100 }), { code: 'EPROTO' })
})

test('between two peers that take them, whole objects travel as stored streams and arrive inflated, checked, with the stream', async () => {
  const src = new ZlibSource()
  const { root, all } = buildTree(src, 3, 5)
  const big = src.add('blob', Buffer.concat([bytes(100_000, 4), Buffer.alloc(200_000)])) // several chunks, compressible
  const { client, server } = await pair({ source: src })
  assert.equal(client.zlibObjects, true)
  const got: VerifiedObject[] = []
  const res = await client.fetch([root, big], { depth: 5, onObject: o => { got.push(o) } })
  assert.equal(res.count, all.length + 1)
  for (const o of got) {
    assert.deepEqual(o.data, src.objects.get(o.id)!.data)
    // trees walked for the closure go inflated; everything else as a stream that inflates to the data
    if (o.type === 'tree') assert.equal(o.deflated, undefined)
    else assert.deepEqual(inflateExact(o.deflated!, o.data.length, o.id), o.data)
  }
  const stats = (server as unknown as { server: { stats: { deflatedOut: number, bytesOut: number } } }).server.stats
  assert.equal(stats.deflatedOut, got.filter(o => o.type !== 'tree').length)
  assert.ok(res.bytes < 200_000, `${res.bytes} bytes on the wire for 300 KB of objects`)
  // without a closure, a tree goes as a stream too
  const again = await client.fetch([root], { onObject: o => { assert.ok(o.deflated !== undefined) } })
  assert.equal(again.count, 1)
  client.destroy(); server.destroy()
})

test('a peer without the flag (an older one) neither gets nor sends streams, both ways', async () => {
  for (const [clientZlib, serverZlib] of [[false, true], [true, false]]) {
    const src = new ZlibSource()
    const { root, all } = buildTree(src, 2, 4)
    const s = new Peer({ accept: () => ({ infoHash: INFOHASH, source: src }), address: 'client', zlib: serverZlib })
    const c = new Peer({ context: { infoHash: INFOHASH }, address: 'server', zlib: clientZlib })
    c.wire.pipe(s.wire).pipe(c.wire)
    await Promise.all([c.whenReady(), s.whenReady()])
    assert.equal(c.remoteHello?.zlib, serverZlib ? true : undefined)
    assert.equal(s.remoteHello?.zlib, clientZlib ? true : undefined)
    const got: VerifiedObject[] = []
    const res = await c.fetch([root], { depth: 3, onObject: o => { got.push(o) } })
    assert.equal(res.count, all.length)
    assert.ok(got.every(o => o.deflated === undefined))
    assert.equal(src.deflatedReads, 0)
    c.destroy(); s.destroy()
  }
})

const lies: Array<[string, (z: DeflatedObject) => DeflatedObject, string]> = [
  ['not a zlib stream', z => ({ ...z, deflated: Buffer.from('this is not zlib at all') }), 'EBADZLIB'],
  ['a truncated stream', z => ({ ...z, deflated: z.deflated.subarray(0, z.deflated.length - 3) }), 'EBADZLIB'],
  ['bytes after the stream', z => ({ ...z, deflated: Buffer.concat([z.deflated, Buffer.from('tail')]) }), 'EBADZLIB'],
  ['a stream of more bytes than announced', z => ({ ...z, size: z.size - 1 }), 'EBADSIZE'],
  ['a stream of fewer bytes than announced', z => ({ ...z, size: z.size + 1 }), 'EBADSIZE'],
  // 1 KB of stream, within zlib's bound for 1000 bytes; the inflate stops at 1000
  ['a bomb: 1 MiB of zeros announced as 1000 bytes', z => ({ ...z, size: 1000, deflated: deflateSync(Buffer.alloc(1 << 20), { level: 9 }) }), 'EBADSIZE'],
  ['other bytes of the right size', z => ({ ...z, deflated: deflateSync(Buffer.alloc(z.size, 0x61)) }), 'EBADHASH']
]

for (const [what, spoil, code] of lies) {
  test(`a peer that sends ${what}: ${code}, dropped, nothing handed out`, async () => {
    const src = new ZlibSource()
    const target = src.add('blob', bytes(5000, 9))
    src.spoil = spoil
    const { client, server } = await pair({ source: src })
    const seen = violations(client)
    const handed: ObjectId[] = []
    await assert.rejects(client.fetch([target], { onObject: o => { handed.push(o.id) } }), { code })
    assert.equal(client.closed, true)
    assert.equal(seen.length, 1)
    assert.deepEqual(handed, [])
    server.destroy()
  })
}

test('the stream\'s announced size is checked against the catalog\'s and the caps at its first chunk', () => {
  const chunk = (over: Partial<ObjectMessage>): ObjectMessage => ({ t: 'object', r: 1, id, type: 'blob', off: 0, total: 10, data: Buffer.alloc(10), zsize: 1000, ...over })
  assert.throws(() => new WantAssembly([id], 0, 512 << 20, { sizeOf: () => 999, takesZlib: true }).accept(chunk({})), { code: 'EBADSIZE' })
  assert.throws(() => new WantAssembly([id], 0, 999, { takesZlib: true }).accept(chunk({})), { code: 'ECAP' })
  assert.throws(() => new WantAssembly([id], 0, 512 << 20, { takesZlib: true }).accept(chunk({ type: 'tree', zsize: MAX_NON_BLOB_BYTES + 1 })), { code: 'ECAP' })
  assert.throws(() => new WantAssembly([id], 0, 512 << 20, { takesZlib: true }).accept(chunk({ total: zlibBound(1000) + 1, data: Buffer.alloc(1) })), { code: 'ECAP' })
  // not offered: a stream is out of turn; a range never comes as one
  assert.throws(() => new WantAssembly([id], 0, 512 << 20).accept(chunk({})), { code: 'EPROTO' })
  assert.throws(() => new RangeAssembly(id, 0, 10, 1000, '00'.repeat(32)).accept(chunk({})), { code: 'EPROTO' })
  // a second chunk that changes the announced size is interleaving
  const w = new WantAssembly([id], 0, 512 << 20, { takesZlib: true })
  assert.equal(w.accept(chunk({ total: 20 })), null)
  assert.throws(() => w.accept(chunk({ total: 20, off: 10, zsize: 1001 })), { code: 'EPROTO' })
})

test('with a lying stream sender and an honest one, the fetch finishes from the honest one and the liar is banned', async () => {
  const honest = new ZlibSource()
  const ids = Array.from({ length: 100 }, (_, i) => honest.add('blob', Buffer.from(`blob ${i} ${'z'.repeat(i * 37)}\n`)))
  const liar = new ZlibSource()
  for (const i of ids) liar.objects.set(i, honest.objects.get(i)!)
  liar.spoil = z => ({ ...z, deflated: Buffer.concat([z.deflated, Buffer.from('x')]) })
  const pairs = [await pair({ source: liar }, {}, 'liar:1'), await pair({ source: honest }, {}, 'honest:1')]
  const pool = new PeerPool()
  for (const p of pairs) assert.ok(pool.add(p.client))
  const stored = new Map<ObjectId, Buffer | undefined>()
  const f = new Fetcher({ pool, sink: { write: async (_type, _data, oid, deflated) => { stored.set(oid, deflated) } }, batchSize: 16 })
  await f.fetch(ids)
  assert.equal(stored.size, 100)
  assert.ok([...stored.values()].every(d => d !== undefined), 'the sink is handed each stream')
  assert.ok(pool.isBanned('liar:1'))
  assert.ok(!pool.isBanned('honest:1'))
  pool.close()
  for (const p of pairs) { p.client.destroy(); p.server.destroy() }
})

test('a stored stream longer than zlib\'s bound for its size is sent inflated instead (the peer would refuse it)', async () => {
  const src = new ZlibSource()
  const target = src.add('blob', Buffer.from('small'))
  src.spoil = z => ({ ...z, deflated: Buffer.concat([z.deflated, Buffer.alloc(zlibBound(z.size))]) })
  const { client, server } = await pair({ source: src })
  const got: VerifiedObject[] = []
  await client.fetch([target], { onObject: o => { got.push(o) } })
  assert.equal(got.length, 1)
  assert.equal(got[0].deflated, undefined)
  assert.equal(client.closed, false)
  client.destroy(); server.destroy()
})

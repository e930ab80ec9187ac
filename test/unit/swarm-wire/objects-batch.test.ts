/**
 * Several small whole objects of a trees-only closure to one `objects`
 * message (negotiated by hello mo: 1): each is taken as the one-chunk
 * `object` it stands for, with every check of one; larger objects still go in
 * chunks, other closures one object to a message; a peer without the flag
 * gets and sends `object` messages only; lies drop the peer.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { bencode } from '../../../src/swarm/codec.ts'
import { CHUNK_BYTES, decodeMessage, encodeMessage, type HelloMessage, type Message, type ObjectMessage, type ObjectsMessage } from '../../../src/swarm/messages.ts'
import { Peer, type VerifiedObject } from '../../../src/swarm/peer.ts'
import { BATCHED_OBJECT_BYTES } from '../../../src/swarm/server.ts'
import { zlibBound } from '../../../src/swarm/zlib-object.ts'
import type { GitObject, ObjectId } from '../../../src/types.ts'
import { buildTree, INFOHASH, MemorySource, pair } from './helpers.ts'

/** The gtfs messages `p` receives, by type. */
function received (p: Peer): Map<string, number> {
  const out = new Map<string, number>()
  ;(p as unknown as { ext: { on: (e: 'message', f: (m: Message) => void) => void } }).ext.on('message', m => { out.set(m.t, (out.get(m.t) ?? 0) + 1) })
  return out
}

function violations (p: Peer): Error[] {
  const out: Error[] = []
  p.on('violation', (err: Error) => { out.push(err) })
  return out
}

const item = (id: string, type: ObjectMessage['type'], data: string, zsize?: number): ObjectMessage => {
  const o: ObjectMessage = { t: 'object', r: 5, id, type, off: 0, total: data.length, data: Buffer.from(data) }
  if (zsize !== undefined) o.zsize = zsize
  return o
}

test('objects and mo round-trip; a description that does not add up, or an object outside its caps, is refused when decoded', () => {
  const m: ObjectsMessage = { t: 'objects', r: 5, items: [item('ab'.repeat(20), 'tree', 'abc'), item('cd'.repeat(20), 'blob', '', 0), item('ef'.repeat(20), 'commit', 'xyz12', 9), item('01'.repeat(20), 'tag', 'q')] }
  assert.deepEqual(decodeMessage(encodeMessage(m)), m)
  const hello: HelloMessage = { t: 'hello', versions: [1], keys: [], maxRequests: 16, maxBatch: 256, objects: true }
  assert.deepEqual(decodeMessage(encodeMessage(hello)), hello)
  const id = (n: number): Buffer => Buffer.alloc(20 * n, 0xab)
  const u32 = (...v: number[]): Buffer => Buffer.concat(v.map(x => { const b = Buffer.alloc(4); b.writeUInt32BE(x); return b }))
  const NZ = 0xffffffff
  const good = { t: 'objects', r: 1, ids: id(2), ty: Buffer.from([0, 1]), ln: u32(1, 2), zs: u32(NZ, NZ), data: Buffer.from('xyz') }
  assert.equal((decodeMessage(bencode(good), { maxObjectBytes: 100 }) as ObjectsMessage).items.length, 2)
  for (const [why, bad] of [
    ['no objects', { ...good, ids: Buffer.alloc(0), ty: Buffer.alloc(0), ln: Buffer.alloc(0), zs: Buffer.alloc(0), data: Buffer.alloc(0) }],
    ['ids not a list of 20-byte ids', { ...good, ids: Buffer.alloc(39) }],
    ['a type missing', { ...good, ty: Buffer.from([0]) }],
    ['a length missing', { ...good, ln: u32(1) }],
    ['an inflated size missing', { ...good, zs: u32(NZ) }],
    ['an unknown type', { ...good, ty: Buffer.from([0, 4]) }],
    ['an object past the data', { ...good, ln: u32(1, 3) }],
    ['data after the last object', { ...good, ln: u32(1, 1) }],
    ['a plain object over the cap', { ...good, ln: u32(1, 101), data: Buffer.alloc(102) }],
    ['an inflated size over the cap', { ...good, zs: u32(NZ, 101) }],
    ['a stream past zlib\'s bound', { ...good, ln: u32(1, zlibBound(1) + 1), zs: u32(NZ, 1), data: Buffer.alloc(zlibBound(1) + 2) }],
    ['mo other than 1', { t: 'hello', v: [1], keys: [], mr: 1, mb: 1, mo: 2 }]
  ] as Array<[string, Record<string, unknown>]>) assert.throws(() => decodeMessage(bencode(bad as never), { maxObjectBytes: 100 }), { code: 'EPROTO' }, why)
})

/** A tree of `n` levels, each a subtree and `width` small files; returns its trees, root first. */
function treesOf (src: MemorySource, levels: number, width: number): ObjectId[] {
  const { all } = buildTree(src, levels, width)
  return all.filter(id => src.objects.get(id)!.type === 'tree').reverse()
}

test('between two peers that take them, a trees-only closure comes several trees to a message, in order, each checked; a large object in chunks', async () => {
  const src = new MemorySource()
  const trees = treesOf(src, 40, 30)
  // a tree too large to gather: 3,000 entries of 34 bytes, two chunks
  const big = src.add('tree', Buffer.concat(Array.from({ length: 3000 }, (_, i) => Buffer.concat([Buffer.from(`100644 f${String(i).padStart(5, '0')}\0`), Buffer.alloc(20, i % 256)]))))
  assert.ok(src.objects.get(big)!.data.length > BATCHED_OBJECT_BYTES + CHUNK_BYTES)
  const { client, server } = await pair({ source: src })
  assert.equal(client.batchedObjects, true)
  const types = received(client)
  const got: VerifiedObject[] = []
  const res = await client.fetch([trees[0], big], { depth: 64, treesOnly: true, nonBlobs: true, onObject: o => { got.push(o) } })
  assert.equal(res.count, trees.length + 1)
  for (const o of got) assert.deepEqual(o.data, src.objects.get(o.id)!.data)
  assert.deepEqual(new Set(got.map(o => o.id)), new Set([...trees, big]))
  // 40 small trees of ~1 KB fit in one message or two; the large tree came in chunks of its own
  assert.ok((types.get('objects') ?? 0) >= 1 && (types.get('objects') ?? 0) <= 3, JSON.stringify([...types]))
  assert.equal(types.get('object'), Math.ceil(src.objects.get(big)!.data.length / CHUNK_BYTES))
  // a tree before its children: the requester could check each object as it came
  assert.deepEqual(got.filter(o => o.id !== big).map(o => o.id), trees)
  client.destroy(); server.destroy()
})

test('any other closure (a cold read\'s) goes one object to a message, to a peer that takes objects too', async () => {
  const src = new MemorySource()
  const { root, all } = buildTree(src, 3, 10)
  const { client, server } = await pair({ source: src })
  assert.equal(client.batchedObjects, true)
  const types = received(client)
  const res = await client.fetch([root], { depth: 5 })
  assert.equal(res.count, all.length)
  assert.equal(types.get('objects'), undefined)
  assert.equal(types.get('object'), all.length)
  client.destroy(); server.destroy()
})

test('a peer without the flag (an older one) neither gets nor sends objects messages, both ways', async () => {
  for (const [clientTakes, serverTakes] of [[false, true], [true, false]]) {
    const src = new MemorySource()
    const trees = treesOf(src, 6, 3)
    const s = new Peer({ accept: () => ({ infoHash: INFOHASH, source: src }), address: 'client', objects: serverTakes })
    const c = new Peer({ context: { infoHash: INFOHASH }, address: 'server', objects: clientTakes })
    c.wire.pipe(s.wire).pipe(c.wire)
    await Promise.all([c.whenReady(), s.whenReady()])
    assert.equal(c.remoteHello?.objects, serverTakes ? true : undefined)
    assert.equal(s.remoteHello?.objects, clientTakes ? true : undefined)
    assert.equal(c.batchedObjects, false)
    const types = received(c)
    const res = await c.fetch([trees[0]], { depth: 64, treesOnly: true, nonBlobs: true })
    assert.equal(res.count, trees.length)
    assert.equal(types.get('objects'), undefined)
    assert.equal(types.get('object'), trees.length)
    c.destroy(); s.destroy()
  }
})

test('what is gathered leaves at the end of the turn: an object does not wait for the store to read the next', async () => {
  const src = new MemorySource()
  const first = src.add('tree', Buffer.alloc(0))
  const stuck = src.add('tree', Buffer.from('100644 f\0' + 'a'.repeat(20)))
  const slow = {
    read: async (id: ObjectId): Promise<GitObject> => id === stuck ? await new Promise<GitObject>(() => {}) : await src.read(id),
    has: async () => true
  }
  const { client, server } = await pair({ source: slow })
  const arrived = new Promise<ObjectId>(resolve => {
    void client.fetch([first, stuck], { depth: 1, treesOnly: true, nonBlobs: true, onObject: o => { resolve(o.id) } }).catch(() => {})
  })
  const timer = new Promise<string>(resolve => { setTimeout(() => { resolve('still waiting') }, 2000).unref() })
  assert.equal(await Promise.race([arrived, timer]), first)
  client.destroy(); server.destroy()
})

test('an objects message the requester did not offer to take, for an object not asked for, or with a bad object: the peer is dropped, nothing handed out', async () => {
  const src = new MemorySource()
  const asked = src.add('blob', Buffer.from('asked'))
  const other = src.add('blob', Buffer.from('not asked'))
  const stuck = { read: async (): Promise<GitObject> => await new Promise<GitObject>(() => {}), has: async () => true }
  const cases: Array<[string, boolean, ObjectMessage[], string]> = [
    ['not offered', false, [item(asked, 'blob', 'asked')], 'EPROTO'],
    ['an object not asked for', true, [item(asked, 'blob', 'asked'), item(other, 'blob', 'not asked')], 'EPROTO'],
    ['the same object twice', true, [item(asked, 'blob', 'asked'), item(asked, 'blob', 'asked')], 'EPROTO'],
    ['bytes that do not hash to the id', true, [item(asked, 'blob', 'fakes')], 'EBADHASH']
  ]
  for (const [why, takes, items, code] of cases) {
    const { client, server } = await pair({ source: stuck }, { objects: takes })
    const seen = violations(client)
    const handed: ObjectId[] = []
    const pending = client.fetch([asked], { onObject: o => { handed.push(o.id) } })
    const closed = once(client, 'close')
    // request 1 is open at the server, which never answers it: answer it here
    server.wire.extended(server.wire.peerExtendedMapping.gtfs, encodeMessage({ t: 'objects', r: 1, items: items.map(o => ({ ...o, r: 1 })) }))
    await assert.rejects(pending, { code }, why)
    await closed
    assert.equal(seen.length, 1, why)
    assert.equal(handed.filter(id => id !== asked).length, 0, why)
    server.destroy()
  }
})

/**
 * Peers that lie, flood or speak out of turn: each is dropped with a stable
 * code and a `violation` event, and nothing it sent is handed out.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import Wire from 'bittorrent-protocol'
import { bencode } from '../../../src/swarm/codec.ts'
import { encodeMessage, MAX_FRAME_BYTES } from '../../../src/swarm/messages.ts'
import { Peer } from '../../../src/swarm/peer.ts'
import type { GitObject, ObjectId } from '../../../src/types.ts'
import { bytes, INFOHASH, MemorySource, pair } from './helpers.ts'
import { rng } from '../../helpers/rng.ts'

function violations (p: Peer): Error[] {
  const out: Error[] = []
  p.on('violation', (err: Error) => { out.push(err) })
  return out
}

test('a corrupted object: EBADHASH, the peer dropped, nothing handed out', async () => {
  const src = new MemorySource()
  const id = src.add('blob', Buffer.from('the real bytes'))
  const liar = { read: async (): Promise<GitObject> => ({ type: 'blob', data: Buffer.from('the fake bytes') }), has: async () => true }
  const { client, server } = await pair({ source: liar })
  const seen = violations(client)
  const handed: ObjectId[] = []
  await assert.rejects(client.fetch([id], { onObject: o => { handed.push(o.id) } }), { code: 'EBADHASH' })
  assert.equal(client.closed, true)
  assert.equal(seen.length, 1)
  assert.deepEqual(handed, [])
  server.destroy()
})

test('a large object with a wrong size or corrupted last chunk is refused', async () => {
  const real = bytes(300_000, 1)
  const src = new MemorySource()
  const id = src.add('blob', real)
  for (const fake of [Buffer.concat([real, Buffer.from('x')]), Buffer.concat([real.subarray(0, 299_999), Buffer.from('!')])]) {
    const { client, server } = await pair({ source: { read: async () => ({ type: 'blob', data: fake }), has: async () => true } })
    await assert.rejects(client.fetch([id]), { code: 'EBADHASH' })
    server.destroy()
  }
})

test('an object over the reader\'s size cap is refused before it is assembled', async () => {
  const src = new MemorySource()
  const id = src.add('blob', bytes(200_000, 2))
  const { client, server } = await pair({ source: src }, { maxObjectBytes: 100_000 })
  await assert.rejects(client.fetch([id]), { code: 'ECAP' })
  assert.equal(client.closed, true)
  server.destroy()
})

test('an oversized frame is refused from its length prefix alone (ECAP)', async () => {
  const { client, server } = await pair()
  const seen = violations(client)
  const pending = client.fetch(['ab'.repeat(20)])
  const head = Buffer.alloc(6)
  head.writeUInt32BE(MAX_FRAME_BYTES + 1, 0)
  head[4] = 20
  head[5] = client.wire.extendedMapping[1] === 'gtfs' ? 1 : 0
  server.wire.push(head) // and never the body: the reader must not wait for it
  await assert.rejects(pending, { code: 'ECAP' })
  assert.equal(seen.length, 1)
  server.destroy()
})

test('garbage bencode, an unknown type, an answer to a request never made: EPROTO', async () => {
  const payloads = [
    Buffer.from('d1:t'),
    bencode({ t: 'gimme', r: 1 }),
    encodeMessage({ t: 'object', r: 4242, id: 'ab'.repeat(20), type: 'blob', off: 0, total: 1, data: Buffer.from('x') }),
    encodeMessage({ t: 'done', r: 999, truncated: false })
  ]
  for (const payload of payloads) {
    const { client, server } = await pair()
    const seen = violations(client)
    const closed = once(client, 'close')
    server.wire.extended(server.wire.peerExtendedMapping.gtfs, payload)
    const [reason] = await closed as [Error & { code: string }]
    assert.equal(reason.code, 'EPROTO', payload.toString('latin1'))
    assert.equal(seen.length, 1)
    server.destroy()
  }
})

test('an object nobody asked for, inside a live request, is refused', async () => {
  const src = new MemorySource()
  const id = src.add('blob', Buffer.from('asked'))
  const other = src.add('blob', Buffer.from('not asked'))
  const stuck = { read: async (): Promise<GitObject> => await new Promise<GitObject>(() => {}), has: async () => true }
  const { client, server } = await pair({ source: stuck })
  const pending = client.fetch([id])
  // request 1 is open at the server; answer it with a valid object that was not asked for
  server.wire.extended(server.wire.peerExtendedMapping.gtfs, encodeMessage({ t: 'object', r: 1, id: other, type: 'blob', off: 0, total: 9, data: Buffer.from('not asked') }))
  await assert.rejects(pending, { code: 'EPROTO' })
  server.destroy()
})

test('gtfs messages before hello are out of order: the peer is dropped', async () => {
  const server = new Peer({ accept: () => ({ infoHash: INFOHASH, source: new MemorySource() }), address: 'server' })
  const seen = violations(server)
  const rude = new Wire()
  // a bare extension that registers the name, so the rude peer's extended handshake names gtfs
  class Bare { get name (): string { return 'gtfs' } }
  rude.use(Bare as never)
  rude.pipe(server.wire).pipe(rude)
  const closed = once(server, 'close')
  rude.on('extended', (name: string) => {
    if (name === 'handshake') rude.extended('gtfs', encodeMessage({ t: 'want', r: 1, ids: ['ab'.repeat(20)], depth: 0 }))
  })
  rude.handshake(INFOHASH, Buffer.from('-XX0001-000000000000'))
  const [reason] = await closed as [Error & { code: string }]
  assert.equal(reason.code, 'EPROTO')
  assert.equal(seen.length, 1)
})

test('a peer that opens more requests than it was told it may is dropped (ECAP)', async () => {
  const stuck = { read: async (): Promise<GitObject> => await new Promise<GitObject>(() => {}), has: async () => true }
  const { client, server } = await pair({ source: stuck })
  const seen = violations(server)
  const closed = once(server, 'close')
  for (let r = 1; r <= 17; r++) {
    client.wire.extended(client.wire.peerExtendedMapping.gtfs, encodeMessage({ t: 'want', r: 1000 + r, ids: ['ab'.repeat(20)], depth: 0 }))
  }
  const [reason] = await closed as [Error & { code: string }]
  assert.equal(reason.code, 'ECAP')
  assert.equal(seen.length, 1)
  client.destroy()
})


test('fuzz: random frames after a valid handshake never crash the reader', async () => {
  const rand = rng(7)
  const frame = (id: number, body: Buffer): Buffer => {
    const b = Buffer.alloc(5 + body.length)
    b.writeUInt32BE(1 + body.length, 0)
    b[4] = id
    body.copy(b, 5)
    return b
  }
  const handshake = Buffer.concat([
    Buffer.from('\x13BitTorrent protocol', 'latin1'), Buffer.from([0, 0, 0, 0, 0, 0x10, 0, 0]), INFOHASH, Buffer.from('-XX0001-000000000000')
  ])
  const extHandshake = frame(20, Buffer.concat([Buffer.from([0]), bencode({ m: { gtfs: 1 } })]))
  const hello = frame(20, Buffer.concat([Buffer.from([1]), encodeMessage({ t: 'hello', versions: [1], keys: [], maxRequests: 4, maxBatch: 8 })]))
  let closed = 0
  for (let n = 0; n < 300; n++) {
    const peer = new Peer({ context: { infoHash: INFOHASH, source: new MemorySource() }, address: `fuzz${n}` })
    peer.on('warning', () => {})
    const chunks: Buffer[] = [handshake, extHandshake, hello]
    const frames = 1 + Math.floor(rand() * 6)
    for (let f = 0; f < frames; f++) {
      const body = bytes(Math.floor(rand() * 200), n * 10 + f)
      const kind = rand()
      if (kind < 0.5) chunks.push(frame(20, Buffer.concat([Buffer.from([Math.floor(rand() * 3)]), body])))
      else if (kind < 0.8) chunks.push(frame(Math.floor(rand() * 22), body))
      else chunks.push(body) // unframed bytes
    }
    const all = Buffer.concat(chunks)
    // deliver in random cuts
    let at = 0
    while (at < all.length) {
      const k = 1 + Math.floor(rand() * 300)
      peer.wire.write(all.subarray(at, at + k))
      at += k
    }
    await new Promise(resolve => setImmediate(resolve))
    if (peer.closed) closed++
    peer.destroy()
  }
  assert.ok(closed > 100, `${closed} of 300 fuzzed connections were dropped`)
})

test('a peer that ends a request without sending or disclaiming an id lies by omission (EPROTO)', async () => {
  const stuck = { read: async (): Promise<GitObject> => await new Promise<GitObject>(() => {}), has: async () => true }
  const { client, server } = await pair({ source: stuck })
  const seen = violations(client)
  const pending = client.fetch(['ab'.repeat(20)])
  server.wire.extended(server.wire.peerExtendedMapping.gtfs, encodeMessage({ t: 'done', r: 1, truncated: false }))
  await assert.rejects(pending, { code: 'EPROTO' })
  assert.equal(seen.length, 1)
  server.destroy()
})

test('an object announced with a size other than the catalog\'s is refused at its first chunk (EBADSIZE)', async () => {
  const src = new MemorySource()
  const id = src.add('blob', bytes(1_000_000, 3))
  const { client, server } = await pair({ source: src })
  let chunks = 0
  client.wire.on('extended', () => { chunks++ })
  await assert.rejects(client.fetch([id], { sizeOf: () => 1000 }), { code: 'EBADSIZE' })
  assert.ok(chunks <= 3, `${chunks} messages`)
  server.destroy()
})

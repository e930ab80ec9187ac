import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import Wire from 'bittorrent-protocol'
import { hashObject } from '../../../src/git/object-id.ts'
import { Peer } from '../../../src/swarm/peer.ts'
import type { GitObject, ObjectId } from '../../../src/types.ts'
import { buildTree, bytes, INFOHASH, MemorySource, pair } from './helpers.ts'

test('fetches one object, a batch, and reports ids the peer does not hold', async () => {
  const src = new MemorySource()
  const ids = Array.from({ length: 100 }, (_, i) => src.add('blob', Buffer.from(`object ${i}\n`)))
  const { client, server } = await pair({ source: src })
  try {
    const one = await client.fetch([ids[0]])
    assert.equal(one.objects.get(ids[0])?.data.toString(), 'object 0\n')
    assert.deepEqual(one.missing, [])

    const absent = hashObject('blob', Buffer.from('nobody has this'))
    const batch = await client.fetch([...ids.slice(1), absent])
    assert.equal(batch.count, 99)
    assert.deepEqual(batch.missing, [absent])
    for (const id of ids.slice(1)) assert.equal(hashObject('blob', batch.objects.get(id)?.data ?? Buffer.alloc(0)), id)
    assert.equal(server.stats.objectsOut, 100)
  } finally {
    client.destroy(); server.destroy()
  }
})

test('a tree closure comes in one request, to the depth asked for', async () => {
  const src = new MemorySource()
  const { root, all } = buildTree(src, 3, 4) // 3 levels, 4 files each: 3 trees + 12 blobs
  const { client, server } = await pair({ source: src })
  try {
    assert.equal((await client.fetch([root])).count, 1)
    assert.equal((await client.fetch([root], { depth: 1 })).count, 6)
    assert.equal((await client.fetch([root], { depth: 2 })).count, 11)
    const full = await client.fetch([root], { depth: 64 })
    assert.equal(full.count, all.length)
    assert.deepEqual([...full.objects.keys()].sort(), [...all].sort())
    const streamed: ObjectId[] = []
    const r = await client.fetch([root], { depth: 64, onObject: async o => { streamed.push(o.id) } })
    assert.equal(r.objects.size, 0)
    assert.equal(streamed.length, all.length)
    assert.equal(streamed[0], root, 'a tree comes before its children')
    const trees = await client.fetch([root], { depth: 64, treesOnly: true })
    assert.equal(trees.count, 3, 'a trees-only closure: the directory structure, no blobs')
    assert.ok([...trees.objects.values()].every(o => o.type === 'tree'))
  } finally {
    client.destroy(); server.destroy()
  }
})

test('a 5 MiB blob arrives in 64 KiB chunks and hashes right', async () => {
  const src = new MemorySource()
  const data = bytes(5 * 1024 * 1024 + 123, 5)
  const id = src.add('blob', data)
  const { client, server } = await pair({ source: src })
  try {
    let frames = 0
    client.wire.on('extended', () => { frames++ })
    const r = await client.fetch([id])
    assert.ok(r.objects.get(id)?.data.equals(data))
    assert.ok(frames >= 81, `${frames} frames`)
  } finally {
    client.destroy(); server.destroy()
  }
})

test('cancel stops the sender; the connection stays usable', async () => {
  const src = new MemorySource()
  const big = src.add('blob', bytes(8 * 1024 * 1024, 6))
  const small = src.add('blob', Buffer.from('small'))
  const { client, server } = await pair({ source: src })
  try {
    const ac = new AbortController()
    let chunks = 0
    client.wire.on('extended', () => { if (++chunks === 3) ac.abort(new Error('reader went away')) })
    await assert.rejects(client.fetch([big], { signal: ac.signal }), /reader went away/)
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.ok(server.wire.bytesOut < 2 * 1024 * 1024, `server sent ${server.wire.bytesOut} bytes after cancel`)
    assert.equal(server.stats.objectsOut, 0)
    assert.equal((await client.fetch([small])).objects.get(small)?.data.toString(), 'small')
    assert.equal(client.closed, false)
  } finally {
    client.destroy(); server.destroy()
  }
})

test('an idle request times out with ETIMEOUT and the peer is counted, not dropped', async () => {
  const stuck = { read: async (): Promise<GitObject> => await new Promise<GitObject>(() => {}), has: async () => true }
  const { client, server } = await pair({ source: stuck })
  try {
    await assert.rejects(client.fetch(['ab'.repeat(20)], { timeoutMs: 100 }), { code: 'ETIMEOUT' })
    assert.equal(client.timeouts, 1)
    assert.equal(client.closed, false)
  } finally {
    client.destroy(); server.destroy()
  }
})

test('signed state travels in chunks; a repo not served answers null', async () => {
  const key = 'ef'.repeat(32)
  const state = { bundle: Buffer.concat([bytes(100_000, 1), bytes(70_000, 2)]) }
  const { client, server } = await pair({
    repoKeys: [key],
    state: { state: async k => k === key ? state : null }
  })
  try {
    assert.deepEqual(client.remoteHello?.keys, [key])
    assert.deepEqual(await client.fetchState(key), state)
    assert.equal(await client.fetchState('00'.repeat(32)), null)
  } finally {
    client.destroy(); server.destroy()
  }
})

test('requests above the peer cap queue locally; all complete', async () => {
  const src = new MemorySource()
  const ids = Array.from({ length: 40 }, (_, i) => src.add('blob', Buffer.from(`o${i}`)))
  const { client, server } = await pair({ source: src })
  try {
    const results = await Promise.all(ids.map(async id => await client.fetch([id])))
    assert.equal(results.reduce((n, r) => n + r.count, 0), 40)
    assert.equal(client.closed, false)
  } finally {
    client.destroy(); server.destroy()
  }
})

test('a stock BitTorrent client gets a valid handshake and extended handshake', async () => {
  const server = new Peer({ accept: h => h === INFOHASH.toString('hex') ? { infoHash: INFOHASH } : null, address: 'server' })
  const closed = once(server, 'close')
  const stock = new Wire()
  stock.pipe(server.wire).pipe(stock)
  const hs = once(stock, 'handshake')
  const ext = once(stock, 'extended')
  stock.handshake(INFOHASH, Buffer.from('-XX0001-000000000000'), { dht: true })
  const [infoHash, peerId, extensions] = await hs as [string, string, { extended: boolean }]
  assert.equal(infoHash, INFOHASH.toString('hex'))
  assert.ok(Buffer.from(peerId, 'hex').toString('latin1').startsWith('-GT0001-'))
  assert.equal(extensions.extended, true)
  const [name, handshake] = await ext as [string, { m: Record<string, number>, v: Uint8Array }]
  assert.equal(name, 'handshake')
  assert.ok(Number(handshake.m.gtfs) > 0)
  assert.match(Buffer.from(handshake.v).toString(), /^gtfs /)
  // it does not speak gtfs, so it is let go, without a ban-worthy fault
  const [reason] = await closed as [Error & { code: string }]
  assert.equal(reason.code, 'EUNSUPPORTED')
})

test('an incoming connection for a swarm we do not serve is refused', async () => {
  const server = new Peer({ accept: () => null, address: 'server' })
  const client = new Peer({ context: { infoHash: INFOHASH }, address: 'client' })
  client.wire.pipe(server.wire).pipe(client.wire)
  const [reason] = await once(server, 'close') as [Error & { code: string }]
  assert.equal(reason.code, 'ENOSWARM')
  client.destroy()
})

/**
 * `range` requests: negotiated in hello (rg: 1), answered with object chunks
 * in blob coordinates, checked against the catalog's SHA-256 and size.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { test } from 'node:test'
import { NotFoundError } from '../../../src/errors.ts'
import { hashObject } from '../../../src/git/object-id.ts'
import { decodeMessage, encodeMessage, MAX_RANGE_BYTES, type HelloMessage } from '../../../src/swarm/messages.ts'
import { Fetcher } from '../../../src/swarm/fetcher.ts'
import type { Peer } from '../../../src/swarm/peer.ts'
import { PeerPool } from '../../../src/swarm/peer-pool.ts'
import type { ObjectId } from '../../../src/types.ts'
import { bytes, MemorySource, pair } from './helpers.ts'

class RangeSource extends MemorySource {
  ranges = 0
  /** what a lying source does to the bytes it sends */
  spoil?: (data: Buffer) => Buffer
  async readRange (id: ObjectId, off: number, len: number): Promise<{ size: number, data: Buffer }> {
    this.ranges++
    const o = this.objects.get(id)
    if (o === undefined) throw new NotFoundError(`no object ${id}`)
    const data = o.data.subarray(off, off + len)
    return { size: o.data.length, data: this.spoil?.(Buffer.from(data)) ?? data }
  }
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const MiB = 1 << 20

function violations (p: Peer): Error[] {
  const out: Error[] = []
  p.on('violation', (err: Error) => { out.push(err) })
  return out
}

test('range messages round-trip; bad ones are refused with EPROTO', () => {
  const id = 'ab'.repeat(20)
  const m = { t: 'range', r: 3, id, off: 5 * MiB, len: MiB } as const
  assert.deepEqual(decodeMessage(encodeMessage(m)), m)
  const hello: HelloMessage = { t: 'hello', versions: [1], keys: [], maxRequests: 16, maxBatch: 256, ranges: true }
  assert.deepEqual(decodeMessage(encodeMessage(hello)), hello)
  const raw = (d: string): Buffer => Buffer.from(d)
  const idb = `20:${'x'.repeat(20)}`
  for (const bad of [
    `d2:id${idb}3:leni0e3:offi0e1:ri1e1:t5:rangee`, // empty range
    `d2:id${idb}3:leni${MAX_RANGE_BYTES + 1}e3:offi0e1:ri1e1:t5:rangee`, // over the cap
    `d2:id${idb}3:leni1e3:offi-1e1:ri1e1:t5:rangee`, // negative offset
    'd2:id3:abc3:leni1e3:offi0e1:ri1e1:t5:rangee', // not an id
    `d2:id${idb}3:offi0e1:ri1e1:t5:rangee`, // no len
    'd4:keysle2:mbi1e2:mri1e2:rgi2e1:t5:hello1:vli1eee' // rg other than 1
  ]) assert.throws(() => decodeMessage(raw(bad)), { code: 'EPROTO' }, bad)
})

test('a peer whose source reads ranges says so, and serves verified ranges in blob coordinates', async () => {
  const src = new RangeSource()
  const blob = bytes(5 * MiB + 123, 3)
  const id = src.add('blob', blob)
  const { client, server } = await pair({ source: src })
  try {
    assert.equal(client.servesRanges, true)
    const mid = await client.fetchRange(id, 2 * MiB, MiB, { size: blob.length, sha256: sha(blob.subarray(2 * MiB, 3 * MiB)) })
    assert.ok(mid !== null && mid.equals(blob.subarray(2 * MiB, 3 * MiB)))
    const last = await client.fetchRange(id, 5 * MiB, 123, { size: blob.length, sha256: sha(blob.subarray(5 * MiB)) })
    assert.ok(last !== null && last.equals(blob.subarray(5 * MiB)))
    const absent = hashObject('blob', Buffer.from('nobody'))
    assert.equal(await client.fetchRange(absent, 0, 10, { size: 10, sha256: sha(Buffer.alloc(10)) }), null)
    assert.equal(src.ranges, 3)
    assert.ok(server.wire.bytesOut < 2 * MiB, `only the ranges travel: ${server.wire.bytesOut}`)
    assert.equal(client.ready, true)
  } finally {
    client.destroy(); server.destroy()
  }
})

test('a peer without ranges is never sent one (EUNSUPPORTED before anything goes out)', async () => {
  const src = new MemorySource()
  const id = src.add('blob', Buffer.alloc(100))
  const { client, server } = await pair({ source: src })
  try {
    assert.equal(client.servesRanges, false)
    await assert.rejects(client.fetchRange(id, 0, 100, { size: 100, sha256: sha(Buffer.alloc(100)) }), { code: 'EUNSUPPORTED' })
    assert.equal(client.ready, true)
  } finally {
    client.destroy(); server.destroy()
  }
})

test('a range whose bytes do not match the catalog hash is EBADHASH, and the peer is dropped', async () => {
  const src = new RangeSource()
  const blob = bytes(2 * MiB, 4)
  const id = src.add('blob', blob)
  src.spoil = d => { d[d.length - 1] ^= 1; return d }
  const { client, server } = await pair({ source: src })
  const seen = violations(client)
  try {
    await assert.rejects(client.fetchRange(id, MiB, MiB, { size: blob.length, sha256: sha(blob.subarray(MiB)) }), { code: 'EBADHASH' })
    assert.equal(seen.length, 1)
    assert.equal(client.closed, true)
  } finally {
    client.destroy(); server.destroy()
  }
})

test('a range of a blob announced with another size is EBADSIZE', async () => {
  const src = new RangeSource()
  const blob = bytes(2 * MiB, 5)
  const id = src.add('blob', blob)
  const { client, server } = await pair({ source: src })
  try {
    await assert.rejects(client.fetchRange(id, 0, MiB, { size: blob.length + 1, sha256: sha(blob.subarray(0, MiB)) }), { code: 'EBADSIZE' })
    assert.equal(client.closed, true)
  } finally {
    client.destroy(); server.destroy()
  }
})

test('the fetcher spreads the chunks of one blob over every peer that serves ranges, and moves a bad one elsewhere', async () => {
  const blob = bytes(12 * MiB + 5, 6)
  const hashes: string[] = []
  for (let off = 0; off < blob.length; off += MiB) hashes.push(sha(blob.subarray(off, off + MiB)))
  const pairs = []
  const sources: RangeSource[] = []
  for (let i = 0; i < 3; i++) {
    const src = new RangeSource()
    src.add('blob', blob)
    sources.push(src)
    pairs.push(await pair({ source: src }, {}, `honest${i}`))
  }
  const liarSrc = new RangeSource()
  const id = liarSrc.add('blob', blob)
  liarSrc.spoil = d => { d[0] ^= 1; return d }
  pairs.push(await pair({ source: liarSrc }, {}, 'liar'))
  const old = new MemorySource() // answers no ranges: never asked for one
  old.add('blob', blob)
  pairs.push(await pair({ source: old }, {}, 'old'))
  const pool = new PeerPool()
  for (const p of pairs) pool.add(p.client)
  const fetcher = new Fetcher({ pool, sink: { write: async () => { throw new Error('chunks do not go to the object sink') } }, deadlineMs: 10_000 })
  const got = new Map<number, Buffer>()
  try {
    const spec = { id, size: blob.length, chunkBytes: MiB, hash: (i: number) => hashes[i], write: async (i: number, d: Buffer) => { got.set(i, d) } }
    await fetcher.fetchChunks(spec, hashes.map((_, i) => i))
    assert.equal(got.size, hashes.length)
    assert.ok(Buffer.concat([...got].sort((a, b) => a[0] - b[0]).map(([, d]) => d)).equals(blob))
    const served = sources.filter(s => s.ranges > 0).length
    assert.ok(served >= 2, `chunks came from ${served} honest peers: ${sources.map(s => s.ranges).join(',')}`)
    assert.equal(old.reads, 0, 'a peer without ranges is not asked')
    assert.ok(pool.isBanned('liar') && pairs[3].client.closed, 'the liar is dropped and banned')
    assert.equal(fetcher.stats.chunks, hashes.length)
    assert.equal(fetcher.stats.objects, 0)
    // no peer answers ranges: ENOTFOUND, not a wait until the deadline
    const alone = new PeerPool()
    alone.add(pairs[4].client)
    const f2 = new Fetcher({ pool: alone, sink: { write: async () => {} }, deadlineMs: 5_000 })
    await assert.rejects(f2.fetchChunks(spec, [0]), { code: 'ENOTFOUND' })
    alone.close()
  } finally {
    pool.close()
    for (const p of pairs) { p.client.destroy(); p.server.destroy() }
  }
})

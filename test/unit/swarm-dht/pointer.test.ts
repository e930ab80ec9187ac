import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { POINTER_VALUE_BYTES, checkPointer, decodePointerValue, encodePointerValue } from '../../../src/swarm/pointer.ts'
import { MAX_VALUE_BYTES, bencodedLength, malformedQuery } from '../../../src/swarm/dht-guard.ts'
import { PointerSeqStore, dhtStateFiles, loadRoutingTable, saveRoutingTable } from '../../../src/swarm/dht-state.ts'

const H = 'ab'.repeat(32)
let dir: string
before(async () => { dir = await mkdtemp(join(tmpdir(), 'gtfs-test-dht-state-')) })
after(async () => { await rm(dir, { recursive: true, force: true }) })

test('pointer value: { h: 32 bytes }, 40 bytes bencoded, far under the BEP44 1000-byte cap', () => {
  const v = encodePointerValue({ manifestHash: H, seq: 3 })
  assert.deepEqual(Object.keys(v), ['h'])
  assert.equal(v.h.toString('hex'), H)
  assert.equal(bencodedLength(v), POINTER_VALUE_BYTES)
  assert.equal(decodePointerValue(v), H)
  assert.equal(decodePointerValue({ h: new Uint8Array(v.h), later: Buffer.from('x') }), H, 'unknown keys are ignored')
})

test('bad pointers and values are EBADPOINTER', () => {
  for (const p of [{ manifestHash: H.toUpperCase(), seq: 1 }, { manifestHash: H.slice(2), seq: 1 }, { manifestHash: H, seq: -1 },
    { manifestHash: H, seq: 1.5 }, { manifestHash: H, seq: 2 ** 53 }, { manifestHash: H, seq: '1' }, null]) {
    assert.throws(() => checkPointer(p as never), { code: 'EBADPOINTER' })
  }
  for (const v of [Buffer.alloc(32), null, 5, [Buffer.alloc(32)], {}, { h: Buffer.alloc(31) }, { h: 'x'.repeat(32) }, Object.create({ h: Buffer.alloc(32) })]) {
    assert.throws(() => decodePointerValue(v), { code: 'EBADPOINTER' })
  }
})

test('bencodedLength matches bencode', () => {
  assert.equal(bencodedLength(Buffer.from('spam')), '4:spam'.length)
  assert.equal(bencodedLength(-42), 'i-42e'.length)
  assert.equal(bencodedLength({ seq: 1, v: [Buffer.from('a'), 'bc'] }), 'd3:seqi1e1:vl1:a2:bcee'.length)
  assert.equal(bencodedLength(undefined), Infinity)
  let deep: unknown = Buffer.alloc(1)
  for (let i = 0; i < 40; i++) deep = [deep]
  assert.equal(bencodedLength(deep), Infinity)
})

test('malformed queries are caught before bittorrent-dht sees them', () => {
  const id = Buffer.alloc(20, 1)
  const q = (name: string, a: Record<string, unknown>): unknown => ({ q: Buffer.from(name), a: { id, ...a } })
  const ok = [
    q('ping', {}), q('find_node', { target: id }), q('get_peers', { info_hash: id }), q('get', { target: id }),
    q('announce_peer', { info_hash: id, token: Buffer.alloc(20), port: 6881 }), q('put', { token: Buffer.alloc(20), v: Buffer.from('x') }),
    q('put', { token: Buffer.alloc(20), v: { h: Buffer.alloc(32) }, k: Buffer.alloc(32), sig: Buffer.alloc(64), seq: 1 }),
    q('vote', {})
  ]
  for (const m of ok) assert.equal(malformedQuery(m), null)
  const bad = [
    null, 5, { q: Buffer.from('ping') }, { q: Buffer.from('ping'), a: { id: 5 } }, { a: { id } },
    q('get_peers', { info_hash: 5 }), q('get_peers', {}), q('get', { target: Buffer.alloc(19) }), q('find_node', { target: 'x' }),
    q('announce_peer', { info_hash: id, token: 5, port: 1 }), q('announce_peer', { info_hash: id, token: Buffer.alloc(20), port: Buffer.alloc(2) }),
    q('put', { token: 1, v: Buffer.from('x') }), q('put', { token: Buffer.alloc(20) }),
    q('put', { token: Buffer.alloc(20), v: Buffer.alloc(MAX_VALUE_BYTES) }),
    q('put', { token: Buffer.alloc(20), v: { big: Buffer.alloc(990) } }),
    q('put', { token: Buffer.alloc(20), v: Buffer.from('x'), sig: Buffer.alloc(64), seq: 1 }),
    q('put', { token: Buffer.alloc(20), v: Buffer.from('x'), k: Buffer.alloc(32), sig: Buffer.alloc(63), seq: 1 }),
    q('put', { token: Buffer.alloc(20), v: Buffer.from('x'), k: Buffer.alloc(32), sig: Buffer.alloc(64) }),
    q('put', { token: Buffer.alloc(20), v: Buffer.from('x'), k: Buffer.alloc(32), sig: Buffer.alloc(64), seq: 1, salt: Buffer.alloc(65) })
  ]
  for (const m of bad) assert.notEqual(malformedQuery(m), null, JSON.stringify(m))
})

test('pointer seqs: persisted before use, never lower, same seq only with the same manifest', async () => {
  const file = join(dir, 'pointers.json')
  const pk = 'cd'.repeat(32)
  const a = new PointerSeqStore(file)
  await a.load()
  assert.equal(await a.advance(pk, { manifestHash: H, seq: 5 }), 'new')
  assert.equal(await a.advance(pk, { manifestHash: H, seq: 5 }), 'same')
  await assert.rejects(a.advance(pk, { manifestHash: 'ef'.repeat(32), seq: 5 }), { code: 'EPOINTERSEQ' })
  await assert.rejects(a.advance(pk, { manifestHash: H, seq: 4 }), { code: 'EPOINTERSEQ' })
  // concurrent advances are serialised: the file holds the highest
  await Promise.allSettled([a.advance(pk, { manifestHash: H, seq: 7 }), a.advance(pk, { manifestHash: H, seq: 6 })])
  const b = new PointerSeqStore(file) // a restart
  await b.load()
  assert.equal(b.get(pk)?.seq, 7)
  await assert.rejects(b.advance(pk, { manifestHash: H, seq: 6 }), { code: 'EPOINTERSEQ' })
  assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { version: 1, pointers: { [pk]: { manifestHash: H, seq: 7 } } })
})

test('an unreadable pointer state is EDHTSTATE, never a silent reset', async () => {
  for (const text of ['{', '{"pointers":[]}', '{"pointers":{"xx":{"seq":1,"manifestHash":"' + H + '"}}}', '{"pointers":{"' + 'cd'.repeat(32) + '":{"seq":-1}}}']) {
    const file = join(dir, 'bad-pointers.json')
    await writeFile(file, text)
    await assert.rejects(new PointerSeqStore(file).load(), { code: 'EDHTSTATE' }, text)
  }
})

test('routing table: saved with ids, read back; unreadable or odd entries are skipped', async () => {
  const { routingTable } = dhtStateFiles(dir)
  assert.deepEqual(await loadRoutingTable(routingTable), [], 'absent')
  const id = Buffer.alloc(20, 9)
  await saveRoutingTable(routingTable, [{ host: '127.0.0.1', port: 1000, id }, { host: '127.0.0.1', port: 1001 }])
  assert.deepEqual(await loadRoutingTable(routingTable), [{ host: '127.0.0.1', port: 1000, id }, { host: '127.0.0.1', port: 1001 }])
  await writeFile(routingTable, JSON.stringify({ nodes: [{ host: 'example.org', port: 1 }, { host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: 2, id: 'zz' }, 7] }))
  assert.deepEqual(await loadRoutingTable(routingTable), [{ host: '127.0.0.1', port: 2 }])
  await writeFile(routingTable, 'not json')
  assert.deepEqual(await loadRoutingTable(routingTable), [])
})

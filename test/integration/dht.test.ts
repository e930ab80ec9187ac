/**
 * SwarmDht on a loopback network: node 0 with `bootstrap: false`, the others
 * bootstrapping from 127.0.0.1:<port of node 0>; plus raw bittorrent-dht
 * nodes that store anything (verify always true) to play forgers.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createHash, randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import DHT from 'bittorrent-dht'
import { SwarmDht } from '../../src/swarm/dht.ts'
import { measureDhtResolve, startLoopbackDht, type LoopbackDht } from '../../src/swarm/dht-loopback.ts'
import { PointerSeqStore, dhtStateFiles, saveRoutingTable } from '../../src/swarm/dht-state.ts'
import { generateKeypair } from '../../src/swarm/ed25519.ts'
import { swarmInfohash } from '../../src/swarm/infohash.ts'

process.env.GTFS_TEST ??= '1'

const N = 12
const hash = (b: number): string => Buffer.alloc(32, b).toString('hex')
const H1 = hash(0x11)
const H2 = hash(0x22)

let net: LoopbackDht
let dir: string
const extra: SwarmDht[] = []
const raw: DHT[] = []
let forger: DHT

async function rawNode (): Promise<DHT> {
  // Stores and returns anything: what a hostile or broken node does.
  const d = new DHT({ bootstrap: [net.bootstrap], verify: () => true, timeout: 500 })
  raw.push(d)
  d.on('error', () => {})
  d.listen(0, '127.0.0.1')
  await once(d, 'ready')
  return d
}

async function node (opts: ConstructorParameters<typeof SwarmDht>[0] = {}, bootstrap: string | false = net.bootstrap): Promise<SwarmDht> {
  const d = new SwarmDht({ queryTimeoutMs: 400, ...opts })
  extra.push(d)
  await d.start({ host: '127.0.0.1', port: 0, bootstrap })
  return d
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gtfs-test-dht-'))
  // Nodes stopped by a test stay in the others' tables until a query to them times out.
  net = await startLoopbackDht(N, { options: { queryTimeoutMs: 400 } })
  for (let i = 0; i < 3; i++) await rawNode()
  forger = await rawNode()
})

after(async () => {
  await Promise.all([net?.stop(), ...extra.map(async d => { await d.stop() })])
  await Promise.all(raw.map(async d => { await new Promise<void>(resolve => { d.destroy(() => { resolve() }) }) }))
  await rm(dir, { recursive: true, force: true })
})

test('a pointer put from one node is got from another (value and seq)', async () => {
  const kp = generateKeypair()
  const put = await net.nodes[1]!.putPointer(kp, { manifestHash: H1, seq: 1 })
  assert.ok(put.nodes >= 1, `stored on ${put.nodes} nodes`)
  const got = await net.nodes[6]!.getPointer(kp.publicKey)
  assert.deepEqual(got, { manifestHash: H1, seq: 1, highestSeen: 1, stale: false })
  assert.deepEqual(await net.nodes[7]!.getPointer(kp.publicKey.toString('hex')), got, 'by hex key')
  assert.equal(await net.nodes[6]!.getPointer(generateKeypair().publicKey), null, 'unknown key')
})

test('a newer seq replaces the pointer; a lower seq or a second manifest at one seq is refused', async () => {
  const kp = generateKeypair()
  const pub = net.nodes[2]!
  await pub.putPointer(kp, { manifestHash: H1, seq: 1 })
  assert.equal((await net.nodes[8]!.getPointer(kp.publicKey))?.seq, 1)
  await pub.putPointer(kp, { manifestHash: H2, seq: 2 })
  assert.deepEqual(await net.nodes[8]!.getPointer(kp.publicKey), { manifestHash: H2, seq: 2, highestSeen: 2, stale: false })
  await assert.rejects(pub.putPointer(kp, { manifestHash: H1, seq: 1 }), { code: 'EPOINTERSEQ' })
  await assert.rejects(pub.putPointer(kp, { manifestHash: H1, seq: 2 }), { code: 'EPOINTERSEQ' })
  // republishing the same pointer is fine although every node already holds it (bittorrent-dht answers 302)
  assert.ok((await pub.putPointer(kp, { manifestHash: H2, seq: 2 })).nodes >= 0)
  // CAS: stored only over the given seq (BEP44)
  await assert.rejects(pub.putPointer(kp, { manifestHash: H1, seq: 4 }, { cas: 3 }), { code: 'EPOINTERCAS' })
  await pub.putPointer(kp, { manifestHash: H1, seq: 5 }, { cas: 2 })
  assert.equal((await net.nodes[9]!.getPointer(kp.publicKey))?.seq, 5)
  await assert.rejects(pub.putPointer(kp, { manifestHash: 'x', seq: 6 }), { code: 'EBADPOINTER' })
})

test('a forged pointer (right key, bad signature) is ignored, also when it claims a higher seq', async () => {
  const victim = generateKeypair()
  const forged = { k: victim.publicKey, v: { h: Buffer.alloc(32, 0xee) }, seq: 99, sig: Buffer.alloc(64, 1) }
  const n = await new Promise<number>((resolve, reject) => {
    forger.put(forged, (err, _h, n) => { if (err !== null && err !== undefined) reject(err); else resolve(n) })
  })
  assert.ok(n >= 1, 'the gullible nodes stored the forgery')
  // Not vacuous: a getter that believes anything finds it in this network.
  const target = createHash('sha1').update(victim.publicKey).digest()
  const gullible = await new Promise<unknown>((resolve, reject) => {
    forger.get(target, { cache: false }, (err, r) => { if (err !== null) reject(err); else resolve(r) })
  })
  assert.equal((gullible as { seq?: number } | null)?.seq, 99)

  assert.equal(await net.nodes[3]!.getPointer(victim.publicKey), null)
  await net.nodes[2]!.putPointer(victim, { manifestHash: H1, seq: 1 })
  assert.deepEqual(await net.nodes[4]!.getPointer(victim.publicKey), { manifestHash: H1, seq: 1, highestSeen: 1, stale: false })
})

test('announce, then lookup finds the announcer\'s port', async () => {
  const ih = swarmInfohash(randomBytes(32).toString('hex'))
  assert.ok((await net.nodes[2]!.announce(ih, 45678)).nodes >= 1)
  const peers = await net.nodes[9]!.lookup(ih)
  assert.deepEqual(peers, [{ host: '127.0.0.1', port: 45678 }])
  // port 0: BEP5 implied_port, the announcer's DHT port
  await net.nodes[3]!.announce(ih.toString('hex'), 0)
  const both = await net.nodes[10]!.lookup(ih)
  assert.deepEqual(new Set(both.map(p => p.port)), new Set([45678, net.nodes[3]!.address()!.port]))
  assert.equal((await net.nodes[10]!.lookup(ih, { max: 1 })).length, 1)
  assert.deepEqual(await net.nodes[5]!.lookup(swarmInfohash(randomBytes(32).toString('hex'))), [])
  await assert.rejects(net.nodes[5]!.lookup('abc'), { code: 'EBADINFOHASH' })
  await assert.rejects(net.nodes[5]!.announce(ih, 70000), { code: 'EBADPORT' })
})

test('keepPointer and keepAnnounced repeat on their timers; a newer put replaces the kept pointer', async () => {
  const d = await node({ republishIntervalMs: 100, reannounceIntervalMs: 100 })
  const kp = generateKeypair()
  const ih = swarmInfohash(randomBytes(32).toString('hex'))
  await d.keepPointer(kp, { manifestHash: H1, seq: 1 })
  await d.keepAnnounced(ih, 40001)
  const first = d.status()
  assert.equal(first.pointers.length, 1)
  assert.equal(first.announced.length, 1)
  const t0 = first.pointers[0]!.lastOk!.getTime()
  const a0 = first.announced[0]!.lastOk!.getTime()
  await d.putPointer(kp, { manifestHash: H2, seq: 2 })
  await new Promise(resolve => setTimeout(resolve, 600))
  const later = d.status()
  assert.equal(later.pointers[0]!.seq, 2)
  assert.ok(later.pointers[0]!.lastOk!.getTime() > t0, 'republished')
  assert.equal(later.pointers[0]!.lastError, null)
  assert.ok(later.announced[0]!.lastOk!.getTime() > a0, 're-announced')
  assert.equal(later.announced[0]!.lastError, null)
  assert.equal((await net.nodes[1]!.getPointer(kp.publicKey))?.seq, 2)
  d.forgetPointer(kp.publicKey)
  d.forgetAnnounced(ih)
  assert.deepEqual([d.status().pointers, d.status().announced], [[], []])
})

test('a restart: the routing table is reloaded, the published seq is never lowered, a replay is reported', async () => {
  const files = dhtStateFiles(join(dir, 'state'))
  const opts = { routingTableFile: files.routingTable, pointerStateFile: files.pointers }
  const kp = generateKeypair()
  const a = await node(opts)
  await a.putPointer(kp, { manifestHash: H1, seq: 3 })
  await a.stop()
  const saved = JSON.parse(await readFile(files.routingTable, 'utf8')) as { nodes: unknown[] }
  assert.ok(saved.nodes.length >= N / 2, `saved ${saved.nodes.length} nodes`)

  // No bootstrap at all: only the saved table can find the network.
  const b = await node(opts, false)
  assert.ok(b.nodeCount >= N / 2)
  assert.deepEqual(await b.getPointer(kp.publicKey), { manifestHash: H1, seq: 3, highestSeen: 3, stale: false })
  await assert.rejects(b.putPointer(kp, { manifestHash: H2, seq: 2 }), { code: 'EPOINTERSEQ' })
  await b.stop()

  // This host published seq 9 before a crash but it never reached the DHT: seq 3 is now stale.
  const store = new PointerSeqStore(files.pointers)
  await store.load()
  await store.advance(kp.publicKey.toString('hex'), { manifestHash: H2, seq: 9 })
  const c = await node(opts, false)
  assert.deepEqual(await c.getPointer(kp.publicKey), { manifestHash: H1, seq: 3, highestSeen: 9, stale: true })
})

test('a restart with a bootstrap list: a saved node that no longer answers is pinged, never asked in a lookup', async () => {
  // a "node" that took the port of a saved one and never answers: it records what it is asked
  const silent = dgram.createSocket('udp4')
  const asked: string[] = []
  silent.on('message', (m) => { asked.push(/1:q\d+:([a-z_]+)/.exec(m.toString('latin1'))?.[1] ?? '?') })
  await new Promise<void>(resolve => { silent.bind(0, '127.0.0.1', resolve) })
  try {
    const files = dhtStateFiles(join(dir, 'stale'))
    await saveRoutingTable(files.routingTable, [{ host: '127.0.0.1', port: silent.address().port, id: Buffer.alloc(20, 9) }])
    const d = await node({ routingTableFile: files.routingTable })
    assert.equal(await d.getPointer(generateKeypair().publicKey), null)
    assert.ok(asked.includes('ping'), `asked: ${asked.join()}`)
    assert.deepEqual(asked.filter(q => q !== 'ping'), [], 'no lookup asked the silent node')
    await d.stop()
  } finally {
    silent.close()
  }
})

test('malformed queries do not crash a node (one such packet kills a plain bittorrent-dht node)', async () => {
  const target = net.nodes[5]!
  const port = target.address()!.port
  const sock = dgram.createSocket('udp4')
  const replies: Buffer[] = []
  sock.on('message', (m) => { replies.push(m) })
  await new Promise<void>(resolve => { sock.bind(0, '127.0.0.1', resolve) })
  const id = Buffer.alloc(20, 7)
  const q = (t: string, body: string): Buffer => Buffer.concat([Buffer.from('d1:ad2:id20:'), id, Buffer.from(body + `1:t2:${t}1:y1:qe`)])
  const packets = [
    q('aa', '9:info_hashi5ee1:q9:get_peers'),
    q('ab', '6:targeti5ee1:q3:get'),
    q('ac', '9:info_hash20:aaaaaaaaaaaaaaaaaaaa4:porti1e5:tokeni5ee1:q13:announce_peer'),
    q('ad', '3:sig64:' + 's'.repeat(64) + '5:token20:tttttttttttttttttttt1:v1:xe1:q3:put'),
    Buffer.from('not bencode at all'),
    // well-formed controls, sent last: the node still answers
    q('ae', 'e1:q4:ping'),
    q('af', '9:info_hash20:' + 'i'.repeat(20) + 'e1:q9:get_peers')
  ]
  for (const p of packets) await new Promise<void>((resolve, reject) => { sock.send(p, port, '127.0.0.1', (err) => { if (err !== null) reject(err); else resolve() }) })
  await new Promise(resolve => setTimeout(resolve, 200))
  sock.close()
  const answered = (t: string): boolean => replies.some(r => r.includes(`1:t2:${t}`) && r.includes('1:y1:r'))
  assert.ok(answered('ae') && answered('af'), 'the good queries after the bad ones were answered')
  assert.ok(!answered('aa') && !answered('ab'), 'the malformed ones were dropped')
  const kp = generateKeypair()
  await net.nodes[1]!.putPointer(kp, { manifestHash: H1, seq: 1 })
  assert.equal((await target.getPointer(kp.publicKey))?.seq, 1)
})

test('deadlines, aborts, stop during a wait, and a busy port', async () => {
  // A bootstrap node that never answers.
  const silent = dgram.createSocket('udp4')
  await new Promise<void>(resolve => { silent.bind(0, '127.0.0.1', resolve) })
  try {
    const d = await node({ queryTimeoutMs: 200, deadlineMs: 60 }, `127.0.0.1:${silent.address().port}`)
    await assert.rejects(d.getPointer(generateKeypair().publicKey), { code: 'ETIMEOUT' })
    const ac = new AbortController()
    ac.abort()
    await assert.rejects(d.getPointer(generateKeypair().publicKey, { signal: ac.signal }), { code: 'EABORTED' })
    assert.deepEqual(await d.lookup(swarmInfohash('ab'.repeat(32)), { timeoutMs: 50 }), [], 'a lookup returns what it found at its deadline')
    const e = await node({ queryTimeoutMs: 400 }, `127.0.0.1:${silent.address().port}`)
    const pending = e.getPointer(generateKeypair().publicKey)
    await new Promise(resolve => setTimeout(resolve, 20))
    await e.stop()
    await assert.rejects(pending, { code: 'EDHT' })
    await assert.rejects(e.getPointer(generateKeypair().publicKey), { code: 'EDHT' })
    await assert.rejects(e.start({ bootstrap: false }), { code: 'EDHT' })
  } finally {
    silent.close()
  }
  const busy = new SwarmDht()
  extra.push(busy)
  await assert.rejects(busy.start({ host: '127.0.0.1', port: net.nodes[0]!.address()!.port, bootstrap: false }), { code: 'EDHT' })
  assert.equal(busy.address(), null)
})

test('measureDhtResolve (the dht-resolve benchmark) times gets on its own loopback network', async () => {
  const m = await measureDhtResolve({ nodes: 6, rounds: 4 })
  assert.equal(m.found, 4)
  assert.ok(m.p50Ms > 0 && m.p50Ms <= m.p90Ms && m.p90Ms <= m.maxMs)
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isGtfsError } from '../../../src/errors.ts'
import { bdecode, bencode, bencodeParts } from '../../../src/swarm/codec.ts'
import { treeChildren } from '../../../src/swarm/codec-tree.ts'
import {
  CHUNK_BYTES, decodeMessage, decodeState, encodeMessage, encodeMessageParts, encodeState,
  MAX_BATCH, MAX_FRAME_BYTES, MAX_MESSAGE_BYTES, MAX_STATE_BYTES, type Message
} from '../../../src/swarm/messages.ts'
import { FrameScanner } from '../../../src/swarm/wire.ts'
import { fuzz } from '../../helpers/fuzz.ts'

const ID = 'ab'.repeat(20)
const KEY = 'cd'.repeat(32)

const samples: Message[] = [
  { t: 'hello', versions: [1, 2], keys: [KEY], maxRequests: 16, maxBatch: 256 },
  { t: 'state-req', r: 1, key: KEY },
  { t: 'state', r: 2, off: 0, total: 10, data: Buffer.from('0123456789') },
  { t: 'want', r: 3, ids: [ID, '00'.repeat(20)], depth: 0 },
  { t: 'want', r: 4, ids: [ID], depth: 5 },
  { t: 'object', r: 5, id: ID, type: 'blob', off: 0, total: 3, data: Buffer.from('abc') },
  { t: 'object', r: 5, id: ID, type: 'tree', off: 0, total: 0, data: Buffer.alloc(0) },
  { t: 'object', r: 6, id: ID, type: 'blob', off: CHUNK_BYTES, total: 2 * CHUNK_BYTES, data: Buffer.alloc(CHUNK_BYTES, 1) },
  { t: 'done', r: 7, truncated: false },
  { t: 'done', r: 7, truncated: true },
  { t: 'dont-have', r: 8, ids: [ID] },
  { t: 'cancel', r: 2 ** 31 - 1 }
]

test('every message round-trips, whole and in parts, within the frame cap', () => {
  for (const m of samples) {
    const buf = encodeMessage(m)
    assert.ok(buf.length <= MAX_MESSAGE_BYTES)
    assert.deepEqual(Buffer.concat(encodeMessageParts(m)), buf, m.t)
    assert.deepEqual(decodeMessage(buf), m, m.t)
  }
  assert.ok(MAX_FRAME_BYTES > MAX_MESSAGE_BYTES)
})

test('a chunk of data is sent without copying it', () => {
  const data = Buffer.alloc(CHUNK_BYTES, 9)
  const parts = encodeMessageParts({ t: 'object', r: 1, id: ID, type: 'blob', off: 0, total: CHUNK_BYTES, data })
  assert.ok(parts.some(p => p.buffer === data.buffer && p.byteOffset === data.byteOffset), 'data is a view')
  assert.ok(parts.length <= 3)
})

test('bencode: canonical values round-trip; non-canonical and capped inputs are refused with EPROTO', () => {
  const v = { a: 1, b: [Buffer.from('x'), -5, { c: Buffer.alloc(0) }], z: 0 }
  const enc = bencode(v)
  assert.equal(enc.toString('latin1'), 'd1:ai1e1:bl1:xi-5ed1:c0:ee1:zi0ee')
  assert.deepEqual(JSON.parse(JSON.stringify(bdecode(enc))), JSON.parse(JSON.stringify(v)))
  assert.deepEqual(Buffer.concat(bencodeParts({ k: Buffer.alloc(5000, 1), j: 3 })), bencode({ k: Buffer.alloc(5000, 1), j: 3 }))
  const bad = [
    '', 'i', 'ie', 'i-0e', 'i01e', 'i1', 'i12345678901234567e', 'i9007199254740993e', '01:a', '2:a', '-1:a', 'l', 'le1',
    'd1:bi1e1:ai2ee', 'd1:ai1e1:ai2ee', 'di1ei2ee', 'x', '1:ab', 'd1:a', '4294967296:x', 'lllllllllllllllllllllllllllllllllee'
  ]
  for (const s of bad) {
    assert.throws(() => bdecode(Buffer.from(s, 'latin1')), (err: unknown) => isGtfsError(err, 'EPROTO'), JSON.stringify(s))
  }
  assert.throws(() => bdecode(Buffer.from('l' + 'i1e'.repeat(20) + 'e'), { maxItems: 10 }), { code: 'EPROTO' })
  assert.throws(() => bdecode(Buffer.alloc(100, 0x30), { maxBytes: 10 }), { code: 'EPROTO' })
  // a __proto__ key is plain data, and a dict inherits nothing
  const d = bdecode(Buffer.from('d9:__proto__i1e11:constructori2ee')) as Record<string, unknown>
  assert.equal(d.__proto__, 1)
  assert.equal(d.constructor, 2)
  assert.deepEqual(Object.keys(d), ['__proto__', 'constructor'])
  const e = bdecode(Buffer.from('d1:ai1ee')) as Record<string, unknown>
  assert.equal(e.toString, undefined)
  assert.equal(e.hasOwnProperty, undefined)
  assert.equal(Object.getPrototypeOf(Object.getPrototypeOf(e)), null)
  // keys of every length up to the interned ones' 6 bytes and past them, and one whose bytes lead with NUL
  const keys = ['\0a', 'a', 'ab', 'abcdef', 'abcdefg', 'b\0']
  const k = bdecode(Buffer.from('d' + keys.map((x, i) => `${x.length}:${x}i${i}e`).join('') + 'e', 'latin1')) as Record<string, unknown>
  assert.deepEqual(Object.entries(k), keys.map((x, i) => [x, i]))
})

test('messages: caps and types are enforced', () => {
  const refuse = (v: Record<string, unknown>, why: string): void => {
    assert.throws(() => decodeMessage(bencode(v as never)), { code: 'EPROTO' }, why)
  }
  refuse({ t: 'nope', r: 1 }, 'unknown type')
  refuse({ r: 1 }, 'no type')
  refuse({ t: 'want', r: -1, ids: Buffer.alloc(20) }, 'negative id')
  refuse({ t: 'want', r: 2 ** 31, ids: Buffer.alloc(20) }, 'request id too large')
  refuse({ t: 'want', r: 1, ids: Buffer.alloc(21) }, 'ids not a multiple of 20')
  refuse({ t: 'want', r: 1, ids: Buffer.alloc(0) }, 'no ids')
  refuse({ t: 'want', r: 1, ids: Buffer.alloc(20 * (MAX_BATCH + 1)) }, 'batch too large')
  refuse({ t: 'want', r: 1, ids: Buffer.alloc(20), depth: 65 }, 'depth too large')
  refuse({ t: 'object', r: 1, id: Buffer.alloc(20), ty: 'blob', off: 0, total: 10, data: Buffer.alloc(11) }, 'chunk past total')
  refuse({ t: 'object', r: 1, id: Buffer.alloc(20), ty: 'blub', off: 0, total: 1, data: Buffer.alloc(1) }, 'bad type')
  refuse({ t: 'object', r: 1, id: Buffer.alloc(19), ty: 'blob', off: 0, total: 1, data: Buffer.alloc(1) }, 'short id')
  refuse({ t: 'object', r: 1, id: Buffer.alloc(20), ty: 'blob', off: 0, total: 2, data: Buffer.alloc(0) }, 'empty chunk')
  refuse({ t: 'object', r: 1, id: Buffer.alloc(20), ty: 'blob', off: 0, total: 2 ** 40, data: Buffer.alloc(1) }, 'object too large')
  refuse({ t: 'state', r: 1, off: 0, total: MAX_STATE_BYTES + 1, data: Buffer.alloc(1) }, 'state too large')
  refuse({ t: 'hello', v: [], keys: [], mr: 1, mb: 1 }, 'no versions')
  refuse({ t: 'hello', v: [1], keys: [Buffer.alloc(31)], mr: 1, mb: 1 }, 'short key')
  refuse({ t: 'hello', v: [1], keys: [], mr: 0, mb: 1 }, 'zero requests')
  assert.throws(() => decodeMessage(Buffer.from('li1ee')), { code: 'EPROTO' })
  assert.throws(() => decodeMessage(Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x64)), { code: 'EPROTO' })
  assert.throws(() => decodeMessage(bencode({ t: 'object', r: 1, id: Buffer.alloc(20), ty: 'blob', off: 0, total: 100, data: Buffer.alloc(1) }), { maxObjectBytes: 50 }), { code: 'EPROTO' })
})

test('repo state round-trips and is capped', () => {
  const s = { bundle: Buffer.from('{"format":"gtfs-bundle"}') }
  assert.deepEqual(decodeState(encodeState(s)), s)
  assert.throws(() => decodeState(bencode({ bundle: 1 })), { code: 'EPROTO' })
  assert.throws(() => decodeState(bencode({ bundle: Buffer.from('b'), extra: Buffer.from('x') })), { code: 'EPROTO' })
})

test('frame scanner: finds frame boundaries across chunks and refuses an oversized length before its body', () => {
  const hs = Buffer.alloc(68, 1)
  const frame = (n: number): Buffer => { const b = Buffer.alloc(4 + n, 2); b.writeUInt32BE(n, 0); return b }
  const stream = Buffer.concat([hs, frame(10), frame(0), frame(100)])
  for (const cut of [1, 7, 68, 70, 82, 86, 100]) {
    const s = new FrameScanner(1000)
    const a = s.feed(stream.subarray(0, cut))
    const b = s.feed(stream.subarray(cut))
    const ends = [a.first, a.last, b.first < 0 ? -1 : b.first + cut, b.last < 0 ? -1 : b.last + cut].filter(x => x >= 0)
    assert.equal(Math.max(...ends), stream.length, `cut ${cut}`)
    assert.equal(a.over, -1); assert.equal(b.over, -1)
  }
  const s = new FrameScanner(1000)
  const r = s.feed(Buffer.concat([hs, Buffer.from([0, 0, 0x10, 0])]))
  assert.equal(r.over, 4096)
})


test('fuzz: 20k random and mutated inputs are each accepted or refused with EPROTO, never a crash or hang', () => {
  const samplesOf = samples.map(m => encodeMessage(m)).concat([encodeState({ bundle: Buffer.from('b') })])
  const alphabet = Buffer.from('ilde0123456789:-')
  const started = performance.now()
  const counts = fuzz([
    { name: 'message', samples: samplesOf, parse: b => decodeMessage(b), codes: ['EPROTO'] },
    { name: 'state', samples: samplesOf, parse: b => decodeState(b), codes: ['EPROTO'] },
    { name: 'bencode', samples: samplesOf, parse: b => bdecode(b), codes: ['EPROTO'] }
  ], { seed: 0x5eed, count: 20_000, ms: 15_000, alphabet })
  const ms = performance.now() - started
  const all = Object.values(counts)
  const accepted = all.reduce((n, c) => n + c.accepted, 0)
  const refused = all.reduce((n, c) => n + c.refused, 0)
  assert.ok(ms < 5000, `fuzz took ${ms} ms`)
  assert.ok(accepted > 100 && refused > 10_000, `accepted ${accepted}, refused ${refused}`)
})

test('treeChildren: every entry but gitlinks, in tree order; treesOnly keeps the subtrees alone; a malformed tree is null', () => {
  const id = (n: number): string => n.toString(16).padStart(2, '0').repeat(20)
  const entry = (mode: string, name: string, n: number): Buffer => Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(id(n), 'hex')])
  const tree = Buffer.concat([
    entry('100644', 'a', 1), entry('40000', 'd', 2), entry('160000', 'mod', 3), entry('120000', 'l', 4),
    entry('100755', 'x', 5), entry('040000', 'padded', 6), entry('40000', 'z', 7)
  ])
  assert.deepEqual(treeChildren(tree), [
    { id: id(1), tree: false }, { id: id(2), tree: true }, { id: id(4), tree: false },
    { id: id(5), tree: false }, { id: id(6), tree: false }, { id: id(7), tree: true }
  ], 'a zero-padded "040000" is not read as a subtree, as before')
  assert.deepEqual(treeChildren(tree, true), [{ id: id(2), tree: true }, { id: id(7), tree: true }])
  assert.equal(treeChildren(tree.subarray(0, tree.length - 3)), null)
  assert.equal(treeChildren(tree.subarray(0, tree.length - 3), true), null)
})

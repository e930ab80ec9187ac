import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { deflateSync } from 'node:zlib'
import { hashObject } from '../../src/git/object-id.ts'
import { InflateBatch, inflateHash } from '../../src/zlib-worker.ts'
import { inflateAndHash } from '../../src/swarm/zlib-object.ts'
import { run } from '../helpers/run.ts'

const blob = (s: string): { data: Buffer, id: string, stream: Buffer } => {
  const data = Buffer.from(s)
  return { data, id: hashObject('blob', data), stream: deflateSync(data) }
}

test('a batch inflates and hashes each object in order; failures are per object', async () => {
  const a = blob('first object\n')
  const b = blob('second '.repeat(1000))
  const c = blob('third')
  const batch = new InflateBatch(16) // segments of 16 bytes; a longer stream gets its own
  batch.add({ stream: a.stream, size: a.data.length, type: 'blob', id: a.id })
  batch.add({ stream: b.stream, size: b.data.length, type: 'blob', id: c.id }) // claims another id
  batch.add({ stream: Buffer.from('not zlib at all'), size: 10, type: 'blob', id: c.id })
  batch.add({ stream: b.stream, size: 100, type: 'blob', id: b.id }) // more than announced
  batch.add({ stream: c.stream, size: c.data.length, type: 'tree', id: c.id }) // hashed as a tree
  batch.add({ stream: c.stream, size: c.data.length, type: 'blob', id: c.id })
  const out = await batch.run()
  assert.equal(out.length, 6)
  assert.deepEqual(out[0].data, a.data)
  assert.equal(out[0].hash, undefined)
  assert.equal(out[0].used, a.stream.length)
  assert.deepEqual(out[0].stream, a.stream)
  assert.deepEqual(out[1].data, b.data)
  assert.equal(out[1].hash, b.id, 'a mismatch names what the bytes hash to')
  assert.equal(out[2].data, null)
  assert.match(out[2].message ?? '', /./)
  assert.equal(out[3].data, null)
  assert.equal(out[3].code, 'ERR_BUFFER_TOO_LARGE')
  assert.equal(out[4].hash, hashObject('tree', c.data))
  assert.deepEqual(out[5].data, c.data)
  assert.equal(out[5].hash, undefined)
})

test('a batch\'s input is segments of its capacity, filled in order, never a buffer grown past it', async () => {
  // One buffer grown by doubling allocated 2.7x the bytes of the streams in
  // a cold read, and V8 counts Buffer memory against its old-generation limit.
  const items = Array.from({ length: 100 }, (_, i) => blob(`object ${i} `.repeat(40 + i)))
  const capacity = 4096
  const batch = new InflateBatch(capacity)
  for (const o of items) batch.add({ stream: o.stream, size: o.data.length, type: 'blob', id: o.id })
  const big = blob(Array.from({ length: 2000 }, (_, i) => String(i * 7919)).join(','))
  assert.ok(big.stream.length > capacity, 'the fixture needs a stream over the capacity')
  batch.add({ stream: big.stream, size: big.data.length, type: 'blob', id: big.id })
  const out = await batch.run()
  out.slice(0, -1).forEach((r, i) => { assert.deepEqual(r.data, items[i].data); assert.deepEqual(r.stream, items[i].stream); assert.equal(r.hash, undefined) })
  assert.deepEqual(out[100].data, big.data)
  assert.deepEqual(out[100].stream, big.stream)
  const inputs = new Set(out.map(r => r.stream.buffer))
  const streamBytes = items.reduce((n, o) => n + o.stream.length, 0) + big.stream.length
  const allocated = [...inputs].reduce((n, b) => n + b.byteLength, 0)
  assert.ok(inputs.size > 1, 'several segments')
  for (const r of out.slice(0, -1)) assert.equal(r.stream.buffer.byteLength, capacity)
  assert.equal(out[100].stream.buffer.byteLength, big.stream.length, 'a stream over the capacity has a segment of its size')
  // unused: the end of each full segment (shorter than the stream that did not
  // fit there) and of the last one filled
  const longest = Math.max(...items.map(o => o.stream.length))
  assert.ok(allocated < streamBytes + inputs.size * longest + capacity, `${allocated} bytes of input for ${streamBytes} of streams`)
})

test('small streams from Node\'s shared buffer pool travel without detaching the pool', async () => {
  // Buffer.from of a few bytes takes them from the pool: moving that memory to
  // the worker would detach it for every other small buffer of the process.
  const items = Array.from({ length: 50 }, (_, i) => blob(`small ${i}`))
  const pooled = items.map(o => Buffer.from(o.stream))
  assert.ok(pooled.some(p => p.buffer.byteLength > p.length), 'the fixture must use pooled buffers')
  const got = await Promise.all(items.map(async (o, i) => await inflateHash({ stream: pooled[i], size: o.data.length, type: 'blob', id: o.id })))
  got.forEach((r, i) => { assert.deepEqual(r.data, items[i].data); assert.equal(r.hash, undefined) })
  assert.deepEqual(pooled[0], items[0].stream, 'the caller\'s stream is left as it was')
  assert.equal(Buffer.from('still usable').toString(), 'still usable')
})

test('inflateAndHash: size checks first, then the hash (EBADSIZE, EBADZLIB, EBADHASH); errors name the object', async () => {
  const a = blob('x'.repeat(5000))
  const r = await inflateAndHash('blob', a.id, a.stream, a.data.length)
  assert.deepEqual(r.data, a.data)
  await assert.rejects(inflateAndHash('blob', a.id, a.stream, a.data.length + 1), { code: 'EBADSIZE', message: new RegExp(`blob ${a.id}`) })
  await assert.rejects(inflateAndHash('blob', a.id, a.stream, a.data.length - 1), { code: 'EBADSIZE' })
  await assert.rejects(inflateAndHash('blob', a.id, Buffer.concat([a.stream, Buffer.from('junk')]), a.data.length), { code: 'EBADZLIB' })
  await assert.rejects(inflateAndHash('blob', '0'.repeat(40), a.stream, a.data.length), { code: 'EBADHASH', message: /blob 0{40} whose bytes hash to/ })
})

test('the worker\'s one reused inflate engine and inflateSync per stream agree on every case (GTFS_ZLIB_PLAIN=1)', async (t) => {
  // The worker inflates with one zlib engine, reset between streams, straight
  // into each stream's slot; inflateSync is its fallback. Both must give the
  // same answer for good streams and for each kind of bad one, wherever it
  // sits in a batch (a failure must not spoil the stream after it).
  const code = `import { deflateSync } from 'node:zlib'
import { createHash } from 'node:crypto'
const z = await import(${JSON.stringify(new URL('../../src/zlib-worker.ts', import.meta.url).href)})
const id = (t, d) => createHash('sha1').update(t + ' ' + d.length + '\\0').update(d).digest('hex')
const big = Buffer.from(Array.from({ length: 3000 }, (_, i) => String(i * 7919)).join(','))
const small = Buffer.from('small object')
const empty = Buffer.alloc(0)
const s = d => deflateSync(d)
const cases = [
  [s(empty), 0, id('blob', empty)],
  [s(small), small.length, id('blob', small)],
  [s(Buffer.from('x')), 0, id('blob', empty)],
  [s(big), big.length, id('blob', big)],
  [s(big), big.length - 1, id('blob', big)],
  [s(big), big.length + 1, id('blob', big)],
  [s(big).subarray(0, 100), big.length, id('blob', big)],
  [Buffer.concat([s(small), Buffer.from('junk')]), small.length, id('blob', small)],
  [Buffer.from('not zlib at all'), 10, id('blob', small)],
  [s(small), small.length, id('tree', small)],
  [s(small), small.length, id('blob', small)],
  [s(Buffer.from('y')), 0, id('blob', empty)]
]
const batch = new z.InflateBatch(64)
for (const [stream, size, oid] of cases) batch.add({ stream, size, type: 'blob', id: oid })
const out = await batch.run()
console.log(JSON.stringify([await z.inflatesDirect(), ...out.map(r => ({ data: r.data === null ? null : r.data.toString('hex'), used: r.data === null ? null : r.used, hash: r.hash ?? null, code: r.code ?? null }))]))`
  const dir = await mkdtemp(join(tmpdir(), 'gtfs-zlib-'))
  t.after(async () => { await rm(dir, { recursive: true, force: true }) })
  const script = join(dir, 'batch.mjs')
  await writeFile(script, code)
  const answers = await Promise.all(['0', '1'].map(async plain => {
    const r = await run(process.execPath, ['--import', 'tsx', script], { timeoutMs: 30_000, env: { ...process.env, GTFS_ZLIB_PLAIN: plain } })
    assert.equal(r.code, 0, r.stderr)
    const [direct, ...rest] = JSON.parse(r.stdout) as [boolean, ...Array<{ data: string | null, used: number | null, hash: string | null, code: string | null }>]
    assert.equal(direct, plain === '0', 'the engine the worker uses')
    return rest
  }))
  assert.deepEqual(answers[0], answers[1])
  const [direct] = answers
  assert.equal(direct[0].data, '', 'an empty object inflates to nothing')
  assert.equal(direct[1].data, Buffer.from('small object').toString('hex'))
  assert.equal(direct[2].code, 'ERR_BUFFER_TOO_LARGE', 'one byte where none was announced')
  assert.equal(direct[3].hash, null)
  assert.equal(direct[4].code, 'ERR_BUFFER_TOO_LARGE')
  assert.equal(direct[5].data?.length, direct[3].data?.length, 'fewer bytes than announced: all of them, for the size check')
  assert.equal(direct[6].data, null, 'a truncated stream fails')
  assert.equal(direct[7].used, direct[1].used, 'bytes after the stream are not taken')
  assert.equal(direct[8].data, null)
  assert.match(direct[9].hash ?? '', /^[0-9a-f]{40}$/)
  assert.equal(direct[10].hash, null, 'a good stream after failures')
  assert.equal(direct[11].code, 'ERR_BUFFER_TOO_LARGE', 'and at the end of the output')
})

test('a worker started ahead of its first job does not keep the process alive', async () => {
  // It did: a daemon that had mounted logged "stopped" and never exited.
  const code = `const z = await import(${JSON.stringify(new URL('../../src/zlib-worker.ts', import.meta.url).href)})
z.startZlibWorker()
setTimeout(() => { console.log('still alive'); process.exit(3) }, 5000).unref()`
  const r = await run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { timeoutMs: 20_000 })
  assert.equal(r.code, 0, r.stdout + r.stderr)
})

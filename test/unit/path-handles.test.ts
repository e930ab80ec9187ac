import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PathHandles } from '../../src/fs/path-handles.ts'
import type { FileHandle } from '../../src/types.ts'
import { waitUntil } from '../helpers/run.ts'

interface Fake extends FileHandle { closed: number }

function fake (size: number, inMemory = true): Fake {
  const h: Fake = {
    size,
    closed: 0,
    async read () { return 0 },
    async close () { h.closed++ }
  }
  if (inMemory) h.readNow = () => 0
  return h
}

const noErrors = (path: string, err: Error): void => { assert.fail(`closing ${path}: ${err.message}`) }

test('a read to the end of the file closes its handle at once; one with bytes left is kept for the next read', () => {
  const t = new PathHandles(noErrors)
  const small = fake(100)
  const k = t.acquireNow('/small', () => small)!
  t.release(k, 100)
  assert.equal(small.closed, 1)
  assert.equal(t.size, 0)

  const big = fake(300_000)
  let opens = 0
  const open = (): Fake => { opens++; return big }
  const a = t.acquireNow('/big', open)!
  t.release(a, 131_072)
  assert.equal(big.closed, 0)
  assert.equal(t.size, 1)
  const b = t.acquireNow('/big', open)!
  assert.equal(b.handle, big)
  assert.equal(opens, 1, 'the kept handle serves the next read')
  t.release(b, 300_000)
  assert.equal(big.closed, 1)
  assert.equal(t.size, 0)
  assert.equal(t.acquireNow('/none', () => undefined), undefined)
})

test('reads waiting for one open share it, and the handle closes only when the last of them ends', async () => {
  const t = new PathHandles(noErrors)
  const h = fake(50, false)
  let opens = 0
  let finish!: () => void
  const gate = new Promise<void>(resolve => { finish = resolve })
  const open = async (): Promise<FileHandle> => { opens++; await gate; return h }
  const p1 = t.acquire('/f', open)
  const p2 = t.acquire('/f', open)
  finish()
  const [k1, k2] = await Promise.all([p1, p2])
  assert.equal(opens, 1)
  assert.equal(k1, k2)
  t.release(k1, 50) // the first read reached the end while the second still reads
  assert.equal(h.closed, 0)
  t.release(k2, 20)
  assert.equal(h.closed, 1)
})

test('a failed open fails the reads of that path that follow at once (the kernel retries a failed page)', async () => {
  const t = new PathHandles(noErrors)
  let opens = 0
  const failing = async (): Promise<FileHandle> => { opens++; throw new Error('no such blob') }
  await assert.rejects(t.acquire('/g', failing), /no such blob/)
  await assert.rejects(t.acquire('/g', failing), /no such blob/)
  assert.equal(opens, 1)
  const h = fake(10, false)
  const k = await t.acquire('/other', async () => h)
  assert.equal(k.handle, h, 'other paths are not affected')
})

test('at most 64 handles are kept: the least recently used goes first, never one a read still uses', async () => {
  const t = new PathHandles(noErrors)
  const hs = Array.from({ length: 70 }, () => fake(1000))
  const busy = t.acquireNow('/0', () => hs[0])! // in use the whole time
  for (let i = 1; i < 70; i++) t.release(t.acquireNow(`/${i}`, () => hs[i])!, 10)
  assert.equal(t.size, 64)
  assert.equal(hs[0].closed, 0, 'in use: dropped from the table, not closed')
  assert.deepEqual(hs.slice(1, 6).map(h => h.closed), [1, 1, 1, 1, 1])
  assert.deepEqual(hs.slice(6).map(h => h.closed), hs.slice(6).map(() => 0))
  t.release(busy, 10)
  assert.equal(hs[0].closed, 1, 'closed when its read ended')
  await t.closeAll()
  assert.ok(hs.every(h => h.closed === 1))
  assert.equal(t.size, 0)
})

test('a kept handle nobody reads for 2 s is closed', async () => {
  const t = new PathHandles(noErrors)
  const h = fake(1000)
  t.release(t.acquireNow('/idle', () => h)!, 10)
  await waitUntil('idle close', () => h.closed === 1, 6000)
  assert.equal(t.size, 0)
})

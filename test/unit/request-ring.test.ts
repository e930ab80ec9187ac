import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Worker } from 'node:worker_threads'
import { CONTROL, IDLE, newRing, RING_BYTES, RingReader, TAKEN, WORKER_RING, WRITTEN } from '../../src/fs/request-ring.ts'

/**
 * A worker that puts `count` requests through the ring as dev-fuse's worker
 * does: request i is `size(i)` bytes, each byte (i + k) & 0xff.
 */
const PUTTER = `
const { parentPort, workerData } = require('node:worker_threads')
${WORKER_RING}
const { ring, count, sizes } = workerData
const buf = Buffer.alloc(Math.max(...sizes))
for (let i = 0; i < count; i++) {
  const n = sizes[i % sizes.length]
  for (let k = 0; k < n; k++) buf[k] = (i + k) & 0xff
  ringPut(ring, buf, n)
}
parentPort.postMessage('end')
`

async function pass (count: number, sizes: number[], slow = false): Promise<{ got: number, wakes: number, fullest: number }> {
  const ring = newRing()
  const ctl = new Int32Array(ring, 0, CONTROL)
  let got = 0
  let wakes = 0
  /** the most bytes the ring held while a request was handled */
  let fullest = 0
  const bad: string[] = []
  const reader = new RingReader(ring, req => {
    const i = got++
    fullest = Math.max(fullest, (Atomics.load(ctl, WRITTEN) - Atomics.load(ctl, TAKEN)) | 0)
    const n = sizes[i % sizes.length]
    if (req.length !== n) bad.push(`request ${i}: ${req.length} bytes, not ${n}`)
    for (let k = 0; k < req.length; k++) if (req[k] !== ((i + k) & 0xff)) { bad.push(`request ${i}: byte ${k}`); break }
    if (slow && i % 500 === 0) { const t = Date.now(); while (Date.now() - t < 2); } // the worker fills the ring meanwhile
    if (i === 3) throw new Error('a handler that throws')
  }, err => { if ((err as Error).message !== 'a handler that throws') bad.push(String(err)) }, 16 * 1024)
  const w = new Worker(PUTTER, { eval: true, workerData: { ring, count, sizes } })
  await new Promise<void>((resolve, reject) => {
    w.on('message', (m: number | string) => {
      wakes++
      reader.drain()
      if (m === 'end') {
        // what was put before 'end' is in the ring: let the drain take it
        const wait = (): void => { if (got === count) resolve(); else setTimeout(wait, 5) }
        wait()
      }
    })
    w.on('error', reject)
  })
  await w.terminate()
  assert.deepEqual(bad, [])
  assert.equal(got, count)
  assert.equal(ctl[IDLE], 1, 'idle again once the ring is empty')
  return { got, wakes, fullest }
}

test('requests cross the ring in order and whole, across its end, and a throwing handler does not stop it', async () => {
  // sizes that are not multiples of 4, and one of 16 KiB: ~5.9 MB in all, the ring wraps ~22 times
  await pass(2000, [1, 17, 80, 4093, 16 * 1024, 3, 40])
})

test('a slow main thread: the worker waits for room, and one wake-up serves many requests', async () => {
  const { got, wakes, fullest } = await pass(20_000, [64, 200, 4000], true)
  assert.ok(fullest > RING_BYTES - 16 * 1024, `the ring filled (at most ${fullest} of ${RING_BYTES} bytes held)`)
  assert.ok(wakes < got / 4, `${wakes} wake-ups for ${got} requests`)
})

import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { setTimeout as delay } from 'node:timers/promises'
import { Worker } from 'node:worker_threads'
import { WorkerCalls } from '../../src/worker-calls.ts'

/** echoes `x` with its thread id, fails on `fail`, answers `slow` after 300 ms, exits on `die` */
const ECHO = `
const { parentPort, threadId } = require('node:worker_threads')
parentPort.on('message', m => {
  if (m.die) process.exit(3)
  const answer = () => parentPort.postMessage(m.fail ? { id: m.id, error: 'asked to fail' } : { id: m.id, x: m.x, thread: threadId })
  if (m.slow) setTimeout(answer, 300); else answer()
})`

interface Echo { id: number, x?: number, thread?: number, error?: string }

function calls (idleMs?: number, spawned: Worker[] = []): WorkerCalls<Echo> {
  return new WorkerCalls<Echo>({
    name: 'echo worker',
    spawn: () => { const w = new Worker(ECHO, { eval: true }); spawned.push(w); return w },
    failure: m => m.error === undefined ? null : new Error(`echo: ${m.error}`),
    idleMs
  })
}

test('answers go to their calls; a failure answer rejects its call only', async () => {
  const w = calls()
  const [a, b, c] = await Promise.allSettled([w.call({ x: 1, slow: true }), w.call({ fail: true }), w.call({ x: 3 })])
  assert.equal(a.status === 'fulfilled' && a.value.x, 1)
  assert.equal(b.status === 'rejected' && (b.reason as Error).message, 'echo: asked to fail')
  assert.equal(c.status === 'fulfilled' && c.value.x, 3)
  assert.equal(a.status === 'fulfilled' && c.status === 'fulfilled' && a.value.thread === c.value.thread, true)
})

test('a call past its deadline fails, and the worker goes on answering', async () => {
  const w = calls()
  await assert.rejects(w.call({ x: 1, slow: true }, [], 50), /echo worker: no answer in 50 ms/)
  assert.equal((await w.call({ x: 2 })).x, 2)
})

test('a worker that dies fails its open calls; the next call starts another', async () => {
  const w = calls()
  const first = (await w.call({ x: 1 })).thread
  await assert.rejects(w.call({ die: true }), /echo worker exited \(3\)/)
  const next = await w.call({ x: 2 })
  assert.equal(next.x, 2)
  assert.notEqual(next.thread, first)
})

test('with idleMs the worker stops after that long without a call; without, it stays', async () => {
  const spawned: Worker[] = []
  const idle = calls(100, spawned)
  const first = (await idle.call({ x: 1 })).thread
  assert.equal((await idle.call({ x: 2 })).thread, first)
  // the idle worker's thread ends, not only our reference to it
  await Promise.race([once(spawned[0], 'exit'), delay(2000).then(() => { throw new Error('the idle worker did not exit') })])
  assert.notEqual((await idle.call({ x: 3 })).thread, first)
  assert.equal(spawned.length, 2)
  const kept = calls()
  const t = (await kept.call({ x: 1 })).thread
  await delay(300)
  assert.equal((await kept.call({ x: 2 })).thread, t)
})

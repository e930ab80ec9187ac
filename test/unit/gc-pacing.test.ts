import assert from 'node:assert/strict'
import { test } from 'node:test'
import { FETCHING_GROWTH, startedGrowth, startGcPacing } from '../../src/daemon/gc-pacing.ts'

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

test('the growth the daemon was started with is read from its node flags', () => {
  assert.equal(startedGrowth(['--v8-pool-size=1', '--heap-growing-percent=45']), 45)
  assert.equal(startedGrowth(['--heap_growing_percent=30']), 30)
  assert.equal(startedGrowth(['--max-semi-space-size=2']), null)
  assert.equal(startedGrowth([]), null)
})

test('while objects arrive the old generation may grow further; some time after the last, it is back to the resting growth', async () => {
  let fetching = false
  const set: number[] = []
  const pacing = startGcPacing({ fetching: () => fetching, everyMs: 10, restAfterMs: 400, firstMs: 300, set: p => { set.push(p) } }, 45)
  const stop = pacing.stop
  try {
    await sleep(20)
    assert.deepEqual(set, [], 'V8\'s default growth until the first decision')
    assert.equal(pacing.growth, null)
    await sleep(400)
    assert.deepEqual(set, [45], 'the first decision sets the resting growth at once')
    assert.equal(pacing.growth, 45)
    set.length = 0
    await sleep(40)
    assert.deepEqual(set, [], 'nothing changes while nothing is fetched')
    fetching = true
    await sleep(40)
    assert.deepEqual(set, [FETCHING_GROWTH])
    assert.equal(pacing.growth, FETCHING_GROWTH, 'what gtfs status shows')
    fetching = false
    await sleep(25)
    assert.deepEqual(set, [FETCHING_GROWTH], 'a short pause between fetches keeps the growth')
    fetching = true
    await sleep(30)
    fetching = false
    await sleep(700)
    assert.deepEqual(set, [FETCHING_GROWTH, 45], 'back to rest, once')
    fetching = true
    await sleep(40)
  } finally {
    stop()
  }
  assert.deepEqual(set, [FETCHING_GROWTH, 45, FETCHING_GROWTH, 45], 'stopping restores the resting growth')
})

test('a first decision while objects arrive sets the fetching growth; stopped before it, the resting growth is set', async () => {
  const set: number[] = []
  const pacing = startGcPacing({ fetching: () => true, everyMs: 10, firstMs: 20, set: p => { set.push(p) } }, 45)
  await sleep(60)
  pacing.stop()
  assert.deepEqual(set, [FETCHING_GROWTH, 45])
  const early: number[] = []
  startGcPacing({ fetching: () => true, firstMs: 10_000, set: p => { early.push(p) } }, 45).stop()
  assert.deepEqual(early, [45])
})

test('a daemon started without the flag, or with a growth as large, is left as it is', async () => {
  for (const resting of [null, FETCHING_GROWTH, 150]) {
    const set: number[] = []
    const pacing = startGcPacing({ fetching: () => true, everyMs: 5, firstMs: 5, set: p => { set.push(p) } }, resting)
    await sleep(30)
    pacing.stop()
    assert.deepEqual(set, [], String(resting))
    assert.equal(pacing.growth, null)
  }
})

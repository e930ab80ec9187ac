import assert from 'node:assert/strict'
import { test } from 'node:test'
import { GtfsError, TimeoutError } from '../../../src/errors.ts'
import { logger } from '../../../src/log.ts'
import { Repeater } from '../../../src/swarm/dht-repeat.ts'
import { settle } from '../../../src/swarm/dht-wait.ts'

test('settle: result, deadline (ETIMEOUT or a partial result), abort, and cancel on every way out', async () => {
  let cancelled = 0
  const cancel = (): void => { cancelled++ }
  assert.equal(await settle<number>('op', [], 1000, (resolve) => { setTimeout(() => { resolve(7) }, 5); return cancel }), 7)
  await assert.rejects(settle('op', [], 20, () => cancel), (e: unknown) => e instanceof TimeoutError && e.code === 'ETIMEOUT')
  assert.equal(await settle<string>('op', [], 20, () => cancel, { onDeadline: () => 'partial' }), 'partial')
  const ac = new AbortController()
  const p = settle('op', [ac.signal], 1000, () => cancel)
  ac.abort()
  await assert.rejects(p, { code: 'EABORTED' })
  const stopping = new AbortController()
  stopping.abort(new GtfsError('EDHT', 'stopping'))
  await assert.rejects(settle('op', [stopping.signal], 1000, () => cancel), { code: 'EDHT' })
  assert.equal(await settle<number>('op', [], 1000, (resolve) => { resolve(1); return cancel }), 1, 'settled inside body')
  await assert.rejects(settle('op', [], 1000, () => { throw new Error('boom') }, { wrap: (e) => new GtfsError('EDHT', String(e)) }), { code: 'EDHT' })
  assert.equal(cancelled, 5)
})

test('Repeater: runs now and on its timer, records failures, forget and stop end it', async () => {
  const r = new Repeater(logger('gtfs:test'))
  let runs = 0
  assert.equal(await r.keep('a', 30, 'job a', async () => ++runs), 1)
  await new Promise(resolve => setTimeout(resolve, 200))
  assert.ok(runs >= 3, `ran ${runs} times`)
  assert.equal(r.status('a').lastError, null)
  r.forget('a')
  const after = runs
  await new Promise(resolve => setTimeout(resolve, 100))
  assert.equal(runs, after)
  await assert.rejects(r.keep('b', 30, 'job b', async () => { throw new GtfsError('EDHT', 'no node') }), { code: 'EDHT' })
  assert.equal(r.status('b').lastError, 'no node')
  r.stop()
  assert.deepEqual(r.status('b'), { lastOk: null, lastError: null })
})

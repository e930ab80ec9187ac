import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { withDeadline } from '../../src/fs/deadline.ts'

test('an operation that settles in time gives its value or its own error', async () => {
  assert.equal(await withDeadline(200, 'getattr /a', async () => 42), 42)
  await assert.rejects(withDeadline(200, 'getattr /b', async () => { throw new Error('own') }), /own/)
  await assert.rejects(withDeadline(200, 'getattr /c', () => { throw new Error('sync') }), /sync/)
})

test('an operation past its deadline is aborted and fails with ETIMEOUT naming it', async () => {
  const started = Date.now()
  let aborted: AbortSignal | undefined
  const never = withDeadline(150, 'read /slow', async signal => {
    aborted = signal
    return await new Promise<never>(() => {})
  })
  await assert.rejects(never, (err: Error & { code?: string }) => err.code === 'ETIMEOUT' && /read \/slow: no answer within 150 ms/.test(err.message))
  const took = Date.now() - started
  assert.ok(took >= 150 && took < 150 + 100 + 200, `failed after ${took} ms`)
  assert.equal(aborted?.aborted, true, 'the operation was told to stop')
})

test('an operation that rethrows its abort reason still names itself', async () => {
  const op = withDeadline(50, 'lookup /x', async signal => await new Promise<never>((_resolve, reject) => {
    signal.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
  }))
  await assert.rejects(op, /lookup \/x: no answer within 50 ms/)
})

test('operations started together share one signal; those that ended are not failed later', async () => {
  const signals: AbortSignal[] = []
  const quick = await Promise.all(Array.from({ length: 100 }, async (_, i) => await withDeadline(80, `op ${i}`, async s => { signals.push(s); return i })))
  assert.equal(quick.length, 100)
  assert.ok(new Set(signals).size <= 2, 'one slot (two at a slot boundary)')
  await new Promise(resolve => setTimeout(resolve, 250))
  assert.ok(signals.every(s => s.aborted), 'the slot expired') // and no unhandled rejection came of it
})

test('a settled operation leaves nothing of itself behind: its slot keeps no stack of the caller (an unmounted view stayed alive that way)', async () => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  // As fs/fuse-ops.ts: the operation is a closure over what it serves.
  const makeOp = (held: { payload: number[] }) => async (): Promise<number> => await withDeadline(60_000, 'hold', async () => held.payload.length)
  let ref: WeakRef<object> | undefined
  await (async () => {
    const held = { payload: new Array(1000).fill(1) }
    ref = new WeakRef(held)
    assert.equal(await makeOp(held)(), 1000)
  })()
  await new Promise(resolve => setImmediate(resolve))
  gc()
  assert.equal(ref?.deref(), undefined)
})

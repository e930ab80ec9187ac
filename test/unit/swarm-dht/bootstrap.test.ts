import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MAINLINE_BOOTSTRAP, formatBootstrap, parseBootstrap, resolveBootstrap } from '../../../src/swarm/dht-bootstrap.ts'
import { SwarmDht } from '../../../src/swarm/dht.ts'

process.env.GTFS_TEST ??= '1'

test('the test suite runs with GTFS_TEST=1', () => {
  assert.equal(process.env.GTFS_TEST, '1')
})

test('parses host:port lists, none, and lists of nodes', () => {
  assert.deepEqual(parseBootstrap('127.0.0.1:6881,127.0.0.1:6882'), [{ host: '127.0.0.1', port: 6881 }, { host: '127.0.0.1', port: 6882 }])
  assert.deepEqual(parseBootstrap(' 127.0.0.1:1 , localhost:65535 \n'), [{ host: '127.0.0.1', port: 1 }, { host: 'localhost', port: 65535 }])
  assert.deepEqual(parseBootstrap('127.0.0.1:5 127.0.0.1:5'), [{ host: '127.0.0.1', port: 5 }], 'duplicates dropped')
  assert.deepEqual(parseBootstrap('Router.Example.ORG:6881'), [{ host: 'router.example.org', port: 6881 }])
  assert.deepEqual(parseBootstrap(['10.0.0.1:7', { host: '10.0.0.2', port: 8 }]), [{ host: '10.0.0.1', port: 7 }, { host: '10.0.0.2', port: 8 }])
  assert.equal(parseBootstrap('none'), false)
  assert.equal(parseBootstrap('false'), false)
  assert.equal(parseBootstrap(false), false)
  assert.equal(formatBootstrap(parseBootstrap('127.0.0.1:9,127.0.0.1:10')), '127.0.0.1:9,127.0.0.1:10')
  assert.equal(formatBootstrap(false), 'none')
})

test('malformed lists are EBOOTSTRAP', () => {
  for (const bad of ['', ' , ', '127.0.0.1', '127.0.0.1:', ':6881', '127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:-1', '127.0.0.1:6881x',
    '[::1]:6881', '::1:6881', 'bad_host:1', 'a..b:1', Array(65).fill('127.0.0.1:1').map((s, i) => s + i).join(',')]) {
    assert.throws(() => parseBootstrap(bad), { code: 'EBOOTSTRAP' }, bad)
  }
  assert.throws(() => parseBootstrap([]), { code: 'EBOOTSTRAP' })
})

test('GTFS_TEST=1 without an explicit list is EBOOTSTRAP; mainline routers are refused', () => {
  const env = { GTFS_TEST: '1' }
  assert.throws(() => resolveBootstrap(undefined, env), { code: 'EBOOTSTRAP' })
  assert.throws(() => resolveBootstrap(undefined, { ...env, GTFS_BOOTSTRAP: ' ' }), { code: 'EBOOTSTRAP' })
  assert.throws(() => resolveBootstrap('router.bittorrent.com:6881', env), { code: 'EBOOTSTRAP' })
  assert.throws(() => resolveBootstrap([...MAINLINE_BOOTSTRAP], env), { code: 'EBOOTSTRAP' })
  assert.deepEqual(resolveBootstrap('127.0.0.1:7000', env), [{ host: '127.0.0.1', port: 7000 }])
  assert.deepEqual(resolveBootstrap(undefined, { ...env, GTFS_BOOTSTRAP: '127.0.0.1:7001' }), [{ host: '127.0.0.1', port: 7001 }])
  assert.equal(resolveBootstrap(false, env), false)
  // the flag wins over the environment
  assert.deepEqual(resolveBootstrap('127.0.0.1:1', { ...env, GTFS_BOOTSTRAP: '127.0.0.1:2' }), [{ host: '127.0.0.1', port: 1 }])
})

test('outside tests the default is the mainline routers (resolved only, never contacted here)', () => {
  assert.deepEqual(resolveBootstrap(undefined, {}), MAINLINE_BOOTSTRAP.map(s => ({ host: s.split(':')[0], port: 6881 })))
})

test('SwarmDht.start refuses to start without a bootstrap list under GTFS_TEST=1, before opening a socket', async () => {
  for (const env of [{ GTFS_TEST: '1' }, process.env]) {
    const dht = new SwarmDht({ env })
    await assert.rejects(dht.start({ host: '127.0.0.1' }), { code: 'EBOOTSTRAP' })
    assert.equal(dht.address(), null)
    await dht.stop()
    await dht.stop() // idempotent
  }
})

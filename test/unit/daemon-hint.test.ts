/**
 * The hint a mount by key passes to the daemon it starts (cli/daemon-client.ts
 * DaemonHint): read from the environment, and anything that is not one is no
 * hint at all, never an error (the daemon only starts earlier on the mount).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { readHint } from '../../src/cli/commands/daemon.ts'

const key = 'ab'.repeat(32)

test('a hint carries the repo as the request will name it and the swarm options the request will carry', () => {
  assert.deepEqual(readHint(JSON.stringify({ repo: key, swarm: { bootstrap: '127.0.0.1:6881', port: 7000 } })), { repo: key, swarm: { bootstrap: '127.0.0.1:6881', port: 7000 } })
  assert.deepEqual(readHint(JSON.stringify({ repo: 'distro', swarm: {} })), { repo: 'distro', swarm: { bootstrap: undefined, port: undefined } })
})

test('no variable, or one that is not a hint, is no hint', () => {
  for (const text of [undefined, '', 'not json', 'null', '[]', '{}', JSON.stringify({ repo: key }), JSON.stringify({ repo: '', swarm: {} }),
    JSON.stringify({ repo: key, swarm: { bootstrap: 6881 } }), JSON.stringify({ repo: key, swarm: { port: '7000' } }), JSON.stringify({ repo: key, swarm: null })]) {
    assert.equal(readHint(text), null, String(text))
  }
})

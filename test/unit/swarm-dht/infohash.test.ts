import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createHash } from 'node:crypto'
import { swarmInfohash, swarmInfohashHex } from '../../../src/swarm/infohash.ts'

const KEY = '0123456789abcdef'.repeat(4)

test('infohash = first 20 bytes of SHA-256("gtfs-swarm-v1:" + repo key), fixed vector', () => {
  const ih = swarmInfohash(KEY)
  assert.equal(ih.length, 20)
  // A fixed value: changing the derivation moves every swarm, so it must be deliberate.
  assert.equal(ih.toString('hex'), '28abe2db0a2e36c59c214c23ddae80532172596d')
  assert.deepEqual(ih, createHash('sha256').update('gtfs-swarm-v1:' + KEY).digest().subarray(0, 20))
  assert.equal(swarmInfohashHex(KEY), ih.toString('hex'))
})

test('deterministic, and distinct repo keys give distinct infohashes', () => {
  assert.deepEqual(swarmInfohash(KEY), swarmInfohash(KEY))
  const other = KEY.slice(0, 63) + 'e'
  assert.notDeepEqual(swarmInfohash(other), swarmInfohash(KEY))
  // not a prefix of the repo key itself, nor of its plain SHA-256
  assert.notEqual(swarmInfohashHex(KEY), KEY.slice(0, 40))
  assert.notEqual(swarmInfohashHex(KEY), createHash('sha256').update(KEY).digest('hex').slice(0, 40))
})

test('only the canonical spelling of a repo key is accepted', () => {
  for (const bad of [KEY.toUpperCase(), KEY.slice(1), KEY + '0', ` ${KEY}`, 'gtfs://' + KEY, '']) {
    assert.throws(() => swarmInfohash(bad), { code: 'EBADREPOKEY' })
  }
  assert.throws(() => swarmInfohash(42 as unknown as string), { code: 'EBADREPOKEY' })
})

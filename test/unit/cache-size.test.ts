import assert from 'node:assert/strict'
import { test } from 'node:test'
import { formatBytes, parseSize } from '../../src/cli/commands/cache.ts'

test('sizes: bytes, or K/M/G/T in powers of 1024; anything else is EUSAGE', () => {
  assert.equal(parseSize('5368709120'), 5368709120)
  assert.equal(parseSize('512M'), 512 * 2 ** 20)
  assert.equal(parseSize('10G'), 10 * 2 ** 30)
  assert.equal(parseSize('1.5GiB'), 1.5 * 2 ** 30)
  assert.equal(parseSize('0'), 0)
  for (const bad of ['', 'ten', '-1G', '5X', '1e9']) assert.throws(() => parseSize(bad), { code: 'EUSAGE' }, bad)
  assert.equal(formatBytes(1023), '1023 B')
  assert.equal(formatBytes(10 * 2 ** 30), '10.0 GiB')
})

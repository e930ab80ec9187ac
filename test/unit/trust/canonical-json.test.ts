import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { canonicalBytes, canonicalText, parseCanonical } from '../../../src/trust/index.ts'
import { rejectsWithCode } from './fixtures.ts'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('canonical JSON', () => {
  it('sorts keys by UTF-16 code units and writes no whitespace', () => {
    assert.equal(canonicalText({ b: 1, a: [true, null, 'x'], C: { z: -2, é: 0 } }), '{"C":{"z":-2,"é":0},"a":[true,null,"x"],"b":1}')
    assert.deepEqual(canonicalBytes({ s: 'é' }), enc('{"s":"é"}'))
  })

  it('refuses values with more than one reading (EMALFORMED)', async () => {
    for (const v of [1.5, NaN, Infinity, 2 ** 53, undefined, 10n, new Date(0), { a: undefined }, [undefined], '\ud800', () => 1]) {
      await rejectsWithCode(() => canonicalBytes(v), 'EMALFORMED')
    }
  })

  it('parses only the canonical encoding (EMALFORMED otherwise)', async () => {
    assert.deepEqual(parseCanonical(enc('{"a":1,"b":[2]}'), 100), { a: 1, b: [2] })
    for (const text of ['{"b":1,"a":2}', '{"a": 1}', '{"a":1,"a":2}', '{"a":1.0}', '{"a":1e2}', '{"a":-0}', '\ufeff{}', '{"a":"\\u0041"}', '{']) {
      await rejectsWithCode(() => parseCanonical(enc(text), 100), 'EMALFORMED')
    }
    await rejectsWithCode(() => parseCanonical(new Uint8Array([0x22, 0xff, 0x22]), 100), 'EMALFORMED')
    await rejectsWithCode(() => parseCanonical(enc('['.repeat(40) + ']'.repeat(40)), 100), 'EMALFORMED')
  })

  it('checks the size cap before decoding (ETOOLARGE, not EMALFORMED)', async () => {
    await rejectsWithCode(() => parseCanonical(new Uint8Array(101).fill(0xff), 100), 'ETOOLARGE')
  })
})

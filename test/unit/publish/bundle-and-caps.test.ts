/**
 * Bundles and caps: every document is refused over its cap before it is
 * decoded or parsed (ETOOLARGE, never EMALFORMED), a catalog that does not
 * hash to its name is ECATALOG, and getfattr output is parsed exactly.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeCatalog, MAX_CATALOG_BYTES } from '../../../src/git/catalog.ts'
import { decodeBundle, encodeBundle, type Bundle } from '../../../src/publish/bundle.ts'
import { parseGetfattr } from '../../../src/publish/xattrs.ts'
import {
  MAX_MANIFEST_BYTES, MAX_POLICY_BYTES, parseManifest, parsePolicy, sha256Hex, verifyCatalog
} from '../../../src/trust/index.ts'

const REPO = 'ab'.repeat(32)

function bundle (over: Partial<Bundle> = {}): Bundle {
  return {
    repo: REPO, policy: [], pendingPolicy: null, manifest: null, pendingManifest: null,
    history: new Map(), catalogs: new Map(), keys: new Uint8Array(0), ...over
  }
}

test('a manifest, policy or catalog larger than its cap is refused before it is parsed', () => {
  // '{' repeated is not JSON: a parser would say EMALFORMED; the cap must answer first.
  const junk = (n: number): Uint8Array => Buffer.alloc(n, 0x7b)
  assert.throws(() => parseManifest(junk(MAX_MANIFEST_BYTES + 1)), { code: 'ETOOLARGE' })
  assert.throws(() => parsePolicy(junk(MAX_POLICY_BYTES + 1)), { code: 'ETOOLARGE' })
  assert.throws(() => decodeCatalog(junk(MAX_CATALOG_BYTES + 1)), { code: 'ETOOLARGE' })
  assert.throws(() => { verifyCatalog(junk(MAX_CATALOG_BYTES + 1), '0'.repeat(64)) }, { code: 'ETOOLARGE' })
  // In a bundle, from the base64 length, before decoding it.
  const doc = (n: number) => ({ bytes: junk(n), signatures: [] })
  assert.throws(() => decodeBundle(encodeBundle(bundle({ pendingManifest: doc(MAX_MANIFEST_BYTES + 1) }))), { code: 'ETOOLARGE' })
  assert.throws(() => decodeBundle(encodeBundle(bundle({ policy: [doc(MAX_POLICY_BYTES + 1)] }))), { code: 'ETOOLARGE' })
  assert.doesNotThrow(() => decodeBundle(encodeBundle(bundle({ pendingManifest: doc(MAX_MANIFEST_BYTES) }))))
})

test('a catalog in a bundle must hash to its name', () => {
  const catalog = Buffer.from('{"catalog":"bytes"}')
  const ok = bundle({ catalogs: new Map([[sha256Hex(catalog), catalog]]) })
  assert.equal(decodeBundle(encodeBundle(ok)).catalogs.size, 1)
  const tampered = bundle({ catalogs: new Map([[sha256Hex(catalog), Buffer.from('{"catalog":"other"}')]]) })
  assert.throws(() => decodeBundle(encodeBundle(tampered)), { code: 'ECATALOG' })
})

test('bundles refuse other formats and bad fields', () => {
  for (const text of ['[]', '{"format":"x"}', 'nope', JSON.stringify({ format: 'gtfs-bundle', version: 2 })]) {
    assert.throws(() => decodeBundle(Buffer.from(text)), { code: 'EMALFORMED' }, text)
  }
  const good = JSON.parse(Buffer.from(encodeBundle(bundle())).toString()) as Record<string, unknown>
  assert.throws(() => decodeBundle(Buffer.from(JSON.stringify({ ...good, keys: 'not base64!' }))), { code: 'EMALFORMED' })
  // Whole quads, each with one flaw: a character outside the alphabet, base64url's, padding inside or too much of it.
  for (const keys of ['AA==AAAA', 'AAA AAAA', 'AA\nAAAAA', 'AAAA!AAA', 'AAAA-AAA', 'AAAA_AAA', 'A===AAAA', 'AAAA====', 'AAAAAA=A', '====']) {
    assert.throws(() => decodeBundle(Buffer.from(JSON.stringify({ ...good, keys }))), { code: 'EMALFORMED', message: /key bundle is not base64/ }, JSON.stringify(keys))
  }
  for (const keys of ['', 'AAAAAAA=', 'AAAAAA==', 'AA+/AA//']) {
    const got = (() => { try { return decodeBundle(Buffer.from(JSON.stringify({ ...good, keys }))).keys } catch (err) { return err as Error } })()
    if (got instanceof Error) assert.doesNotMatch(got.message, /not base64/, JSON.stringify(keys))
    else assert.deepEqual(Buffer.from(got), Buffer.from(keys, 'base64'))
  }
  assert.throws(() => decodeBundle(Buffer.from(JSON.stringify({ ...good, repo: 'short' }))), { code: 'EMALFORMED' })
})

test('getfattr --dump output is parsed with its octal escapes', () => {
  const out = Buffer.concat([
    Buffer.from('# file: .\nuser.root=0sAQ==\n\n'),
    Buffer.from('# file: etc/a\nsecurity.capability=0sAQAAAgAgAAAAAAAAAAAAAAAAAAA=\nuser.test=0saGVsbG8=\nuser.empty=0s\n\n'),
    Buffer.from('# file: we=ird\\012name\\134'), Buffer.from('ä', 'utf8'), Buffer.from('\nuser.k=0sYQpi\n')
  ])
  const dump = parseGetfattr(out)
  assert.deepEqual([...dump.keys()], ['', 'etc/a', 'we=ird\nname\\ä'])
  assert.equal(dump.get('etc/a')?.get('user.test'), 'aGVsbG8=')
  assert.equal(dump.get('etc/a')?.get('user.empty'), '')
  assert.equal(dump.get('')?.get('user.root'), 'AQ==')
})

/**
 * Bad input: a seeded, time-bounded fuzz pass over every parser of bytes that
 * come from other machines — the wire extension's decoder (messages, state,
 * bencode), the signed documents (manifest, policy), the catalog, the state
 * bundle, the DHT pointer value and the git tree parser. Pass: no crash, no
 * hang (no input over 250 ms), every input accepted or refused with its code.
 *
 * GTFS_FAULTS_SEED replays a run; GTFS_FAULTS_FUZZ_MS (default 20 000) and
 * GTFS_FAULTS_FUZZ_COUNT (default 40 000 per parser) bound it.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { deflateSync } from 'node:zlib'
import { encodeCatalog, decodeCatalog, type Catalog, type CatalogEntry } from '../../src/git/catalog.ts'
import { parseTree, subtreeIds } from '../../src/git/tree.ts'
import { decodeBundle, encodeBundle } from '../../src/publish/bundle.ts'
import { bdecode } from '../../src/swarm/codec.ts'
import { decodeMessage, decodeState, encodeMessage, encodeState, type Message } from '../../src/swarm/messages.ts'
import { bencode } from '../../src/swarm/codec.ts'
import { decodePointerValue, encodePointerValue } from '../../src/swarm/pointer.ts'
import { makeGenesisPolicy, makeManifest, manifestBytes, parseManifest, parsePolicy, policyBytes } from '../../src/trust/index.ts'
import type { VerifiedPolicy } from '../../src/trust/index.ts'
import { fuzz } from '../helpers/fuzz.ts'
import { faultLine, faultSeed, sha256 } from '../helpers/swarm.ts'
import { treeData } from '../unit/swarm-wire/helpers.ts'

const ID = 'ab'.repeat(20)
const FPR = 'A1B2C3D4E5F60718293A4B5C6D7E8F9012345678'

function wireSamples (): Buffer[] {
  const messages: Message[] = [
    { t: 'hello', versions: [1], keys: ['cd'.repeat(32)], maxRequests: 16, maxBatch: 256 },
    { t: 'hello', versions: [1], keys: ['cd'.repeat(32)], maxRequests: 16, maxBatch: 256, origin: true, ranges: true, zlib: true, objects: true },
    { t: 'state-req', r: 1, key: 'cd'.repeat(32) },
    { t: 'state', r: 2, off: 0, total: 4, data: Buffer.from('abcd') },
    { t: 'want', r: 3, ids: [ID, '00'.repeat(20)], depth: 2, trees: true },
    { t: 'range', r: 4, id: ID, off: 4096, len: 65_536 },
    { t: 'object', r: 5, id: ID, type: 'tree', off: 0, total: 3, data: Buffer.from('abc') },
    { t: 'object', r: 6, id: ID, type: 'blob', off: 0, total: 11, data: deflateSync('hello world'), zsize: 11 },
    {
      t: 'objects',
      r: 6,
      items: [
        { t: 'object', r: 6, id: ID, type: 'blob', off: 0, total: 3, data: Buffer.from('abc') },
        { t: 'object', r: 6, id: '00'.repeat(20), type: 'tree', off: 0, total: 5, data: deflateSync('tree!'), zsize: 5 }
      ]
    },
    { t: 'done', r: 7, truncated: true },
    { t: 'dont-have', r: 8, ids: [ID] },
    { t: 'cancel', r: 9 }
  ]
  return [...messages.map(m => encodeMessage(m)), encodeState({ bundle: Buffer.from('{"format":"gtfs-bundle"}') })]
}

function documents (): { policy: Buffer, manifest: Buffer, catalog: Buffer, bundle: Buffer } {
  const genesis = makeGenesisPolicy({ roots: { signers: [FPR], threshold: 1 }, pointerKey: 'ef'.repeat(32), created: 1_700_000_000 })
  const policy = Buffer.from(policyBytes(genesis))
  const verified = { repo: 'cd'.repeat(32), policy: genesis, version: 1, bytes: policy, hash: '12'.repeat(32) } as unknown as VerifiedPolicy
  const file = (size: number): CatalogEntry => ({ type: 'file', size, mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 })
  const c: Catalog = {
    tree: ID,
    rootfs: true,
    entries: new Map<string, CatalogEntry>([
      ['/', { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1 }],
      ['/a', file(3)],
      ['/dev', { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1 }],
      ['/dev/null', { type: 'chardev', mode: 0o666, uid: 0, gid: 0, mtime: 5, rdev: [1, 3] }],
      ['/l', { type: 'symlink', size: 1, mode: 0o777, uid: 0, gid: 0, mtime: 1 }]
    ])
  }
  const catalog = Buffer.from(encodeCatalog(c))
  const manifest = Buffer.from(manifestBytes(makeManifest({
    policy: verified, seq: 3, prev: '34'.repeat(32), created: 1_700_000_000,
    refs: { 'refs/heads/main': { commit: ID, catalog: sha256(catalog) }, 'refs/tags/v1': { commit: '00'.repeat(20), catalog: null } }
  })))
  const bundle = Buffer.from(encodeBundle({
    repo: 'cd'.repeat(32), policy: [{ bytes: policy, signatures: [Buffer.from('sig')] }], pendingPolicy: null,
    manifest: { bytes: manifest, signatures: [Buffer.from('sig')] }, pendingManifest: null,
    history: new Map([[2, Buffer.from('old')]]), catalogs: new Map([[sha256(catalog), catalog]]), keys: Buffer.from('keys')
  }))
  return { policy, manifest, catalog, bundle }
}

test('fuzz: every parser of untrusted bytes accepts or refuses with its code, never crashes or hangs', () => {
  const seed = faultSeed('fuzz', 0x6a7f5)
  const ms = Number(process.env.GTFS_FAULTS_FUZZ_MS ?? 20_000)
  const count = Number(process.env.GTFS_FAULTS_FUZZ_COUNT ?? 40_000)
  const wire = wireSamples()
  const d = documents()
  const trees = [
    treeData([['100644', 'a', ID], ['40000', 'dir', ID], ['120000', 'link', ID]]),
    treeData([['100755', 'run', ID], ['160000', 'sub', ID]]),
    treeData([['100644', '.git', ID], ['40000', '..', ID]])
  ]
  const json = Buffer.from('{}[]":,0123456789abcdef-')
  const counts = fuzz([
    { name: 'wire-message', samples: wire, parse: b => decodeMessage(b), codes: ['EPROTO'] },
    { name: 'wire-state', samples: wire, parse: b => decodeState(b), codes: ['EPROTO'] },
    { name: 'bencode', samples: wire, parse: b => bdecode(b), codes: ['EPROTO'] },
    { name: 'manifest', samples: [d.manifest], parse: b => parseManifest(b), codes: ['EMALFORMED', 'ETOOLARGE'] },
    { name: 'policy', samples: [d.policy], parse: b => parsePolicy(b), codes: ['EMALFORMED', 'ETOOLARGE'] },
    { name: 'catalog', samples: [d.catalog], parse: b => decodeCatalog(b), codes: ['EMALFORMED', 'ETOOLARGE'] },
    { name: 'bundle', samples: [d.bundle], parse: b => decodeBundle(b), codes: ['EMALFORMED', 'ETOOLARGE', 'ECATALOG'] },
    { name: 'pointer', samples: [bencode(encodePointerValue({ manifestHash: '78'.repeat(32), seq: 4 }))], parse: b => decodePointerValue(bdecode(b)), codes: ['EPROTO', 'EBADPOINTER'] },
    { name: 'tree', samples: trees, parse: b => parseTree(b, ID), codes: ['EMALFORMED'] },
    // the directory walk's scan agrees with parseTree on every input it accepts
    { name: 'subtrees', samples: trees, parse: b => { const ids = subtreeIds(b, ID); assert.deepEqual(ids, parseTree(b, ID).entries.filter(e => e.kind === 'dir').map(e => e.id)); return ids }, codes: ['EMALFORMED'] }
  ], { seed, count, ms, alphabet: json })
  let inputs = 0
  let refused = 0
  for (const [name, c] of Object.entries(counts)) {
    assert.ok(c.slowestMs < 250, `${name}: one input took ${c.slowestMs} ms`)
    assert.ok(c.inputs >= Math.min(count, 1000), `${name}: only ${c.inputs} inputs in the time given`)
    inputs += c.inputs
    refused += c.refused
  }
  faultLine('fuzz', { seed, inputs, refused, accepted: inputs - refused, ...Object.fromEntries(Object.entries(counts).map(([k, c]) => [k, `${c.accepted}/${c.inputs}`])), crashes: 0 })
})

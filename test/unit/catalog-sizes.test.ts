import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decodeCatalog, encodeCatalog, type Catalog, type CatalogEntry } from '../../src/git/catalog.ts'
import { packEntries, PackedEntries } from '../../src/git/catalog-packed.ts'
import { SizesCatalogEntries, sizesCatalogText } from '../../src/git/catalog-sizes.ts'
import { existsSync } from 'node:fs'
import { rng } from '../helpers/rng.ts'

const TREE = 'a'.repeat(40)

/** names that sort and escape awkwardly: quotes, backslashes, astral characters, prefixes of each other */
const NAMES = ['a', 'a b', 'a-b', 'a.b', 'ab', 'a"q', 'back\\slash', 'é', '😀', '中文', 'z\u007f', 'Z', '0', 'a~', '\uffef']

function sizes (count: number, seed: number): Catalog & { entries: Map<string, CatalogEntry> } {
  const r = rng(seed)
  const entries = new Map<string, CatalogEntry>()
  while (entries.size < count) {
    const depth = 1 + Math.floor(r() * 3)
    const parts: string[] = []
    for (let i = 0; i < depth; i++) parts.push(NAMES[Math.floor(r() * NAMES.length)] + (r() < 0.5 ? String(Math.floor(r() * 20)) : ''))
    entries.set(`/${parts.join('/')}`, { type: r() < 0.1 ? 'symlink' : 'file', size: Math.floor(r() * 2 ** (r() < 0.05 ? 50 : 20)) })
  }
  return { tree: TREE, rootfs: false, entries }
}

/** keys a lookup must miss: prefixes, extensions and neighbours of the real ones */
function misses (keys: string[]): string[] {
  const out = new Set(['', '/', '/\u0000', '/~~~~', '/ ', `/${'\uffff'.repeat(3)}`])
  for (const k of keys) for (const m of [k.slice(0, -1), `${k}x`, `${k}/`, `${k}"`, k.replace(/.$/, '!')]) if (!keys.includes(m)) out.add(m)
  return [...out]
}

function same (view: ReadonlyMap<string, CatalogEntry>, c: Catalog): void {
  const keys = [...c.entries.keys()]
  for (const [k, e] of c.entries) assert.deepEqual(view.get(k), { size: e.size, type: e.type }, k)
  for (const k of misses(keys)) assert.equal(view.get(k), undefined, JSON.stringify(k))
  assert.equal(view.size, c.entries.size)
  assert.deepEqual([...view.keys()], keys)
  assert.deepEqual([...view.values()], [...c.entries.values()].map(e => ({ size: e.size, type: e.type })))
}

test('a sizes catalog read in place answers every path as its decoding does, and misses every other', () => {
  for (const [count, seed] of [[0, 1], [1, 2], [2, 3], [37, 4], [600, 5]]) {
    const bytes = encodeCatalog(sizes(count, seed))
    const text = new TextDecoder().decode(bytes)
    const shape = sizesCatalogText(text)
    assert.ok(shape !== null)
    assert.equal(shape.tree, TREE)
    same(new SizesCatalogEntries(text, shape.from, shape.to), decodeCatalog(bytes))
  }
})

test('packed tables answer as the decoding does, with escaped keys and any seed', () => {
  for (const [count, seed] of [[0, 1], [1, 2], [600, 5]]) {
    const bytes = encodeCatalog(sizes(count, seed))
    const text = new TextDecoder().decode(bytes)
    const decoded = decodeCatalog(bytes)
    for (const hashSeed of [0, 12345, 2 ** 31 - 1]) same(new PackedEntries(text, packEntries(text, decoded.entries, hashSeed)), decoded)
  }
})

test('only a plain sizes catalog is read in place: rootfs, chunk hashes and a prefetch list decode', () => {
  const plain = sizes(5, 9)
  const text = (c: Catalog): string => new TextDecoder().decode(encodeCatalog(c))
  assert.ok(sizesCatalogText(text(plain)) !== null)
  const first = [...plain.entries.keys()].find(k => plain.entries.get(k)!.type === 'file')!
  assert.equal(sizesCatalogText(text({ ...plain, prefetch: [first] })), null)
  assert.equal(sizesCatalogText(text({ ...plain, chunks: { bytes: 1024 * 1024, hashes: new Map([['b'.repeat(40), 'c'.repeat(64)]]) } })), null)
  assert.equal(sizesCatalogText(text({ tree: TREE, rootfs: true, entries: new Map([['/', { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 }]]) })), null)
  assert.equal(sizesCatalogText(text(plain).replace('"version":1', '"version":2')), null)
})

test('the view answers from the check\'s tables once checked, and fails every lookup once refused', () => {
  const c = sizes(50, 11)
  const bytes = encodeCatalog(c)
  const text = new TextDecoder().decode(bytes)
  const shape = sizesCatalogText(text)!
  const view = new SizesCatalogEntries(text, shape.from, shape.to)
  assert.equal(view.isChecked, false)
  view.checked(packEntries(text, decodeCatalog(bytes).entries, 7))
  assert.equal(view.isChecked, true)
  same(view, decodeCatalog(bytes))
  const refused = new SizesCatalogEntries(text, shape.from, shape.to)
  refused.refused(new Error('not canonical'))
  assert.throws(() => refused.get([...c.entries.keys()][0]), { code: 'ECATALOG' })
  assert.throws(() => refused.size, { code: 'ECATALOG' })
  // a refusal is final: tables that arrive after it are not taken
  refused.checked(packEntries(text, decodeCatalog(bytes).entries, 7))
  assert.throws(() => refused.get('/x'), { code: 'ECATALOG' })
})

test('an entry not in the sized form fails its lookup with ECATALOG before any check', () => {
  const c = sizes(3, 12)
  const text = new TextDecoder().decode(encodeCatalog(c)).replace('"type":"file"', '"type":"file","x":1')
  const shape = sizesCatalogText(text)!
  const view = new SizesCatalogEntries(text, shape.from, shape.to)
  assert.throws(() => { for (const k of c.entries.keys()) view.get(k) }, { code: 'ECATALOG' })
})

// The worker runs compiled only (tsx's loader does not reach a worker's entry):
// this takes the build the suite runs after (scripts/setup.sh builds it).
const COMPILED = new URL('../../dist/publish/catalog-worker.js', import.meta.url)

test('the worker checks with decodeCatalog: tables that answer alike, and a refusal with its code', { skip: existsSync(COMPILED) ? false : 'no build (npm run build)' }, async () => {
  const { checkCatalogOffThread, isRefusal } = await import(COMPILED.href) as typeof import('../../src/publish/catalog-worker.ts')
  const c = decodeCatalog(encodeCatalog(sizes(300, 13)))
  const bytes = encodeCatalog(c)
  const text = new TextDecoder().decode(bytes)
  same(new PackedEntries(text, await checkCatalogOffThread(bytes)), c)
  // not canonical (a space): decodeCatalog refuses it, and so does the worker
  const spaced = new TextEncoder().encode(text.replace('{"size"', '{ "size"'))
  assert.throws(() => decodeCatalog(spaced), { code: 'EMALFORMED' })
  await assert.rejects(checkCatalogOffThread(spaced), (err: Error) => isRefusal(err) && (err as { code?: string }).code === 'EMALFORMED')
  // a rootfs catalog is checked but not packed: an error that is not a refusal
  const rootfs = encodeCatalog({ tree: TREE, rootfs: true, entries: new Map([['/', { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 }]]) })
  await assert.rejects(checkCatalogOffThread(rootfs), (err: Error) => !isRefusal(err))
})

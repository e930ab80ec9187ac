import assert from 'node:assert/strict'
import { test } from 'node:test'
import { scanCatalog } from '../../src/git/catalog-scan.ts'
import { rng } from '../helpers/rng.ts'
import {
  chunkHash, decodeCatalog, encodeCatalog, makeDev, MAX_CATALOG_BYTES, splitDev, type Catalog, type CatalogEntry
} from '../../src/git/catalog.ts'

const TREE = 'a'.repeat(40)

function rootfs (entries: Array<[string, CatalogEntry]>): Catalog {
  return { tree: TREE, rootfs: true, entries: new Map(entries) }
}

const dir = (mode = 0o755): CatalogEntry => ({ type: 'dir', mode, uid: 0, gid: 0, mtime: 1_700_000_000 })
const file = (size: number, extra: Partial<CatalogEntry> = {}): CatalogEntry => ({ type: 'file', size, mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, ...extra })

test('a rootfs catalog round-trips to the same bytes, whatever the insertion order', () => {
  const entries: Array<[string, CatalogEntry]> = [
    ['/', dir()],
    ['/bin', dir()],
    ['/bin/su', file(10, { mode: 0o4755 })],
    ['/dev', dir()],
    ['/dev/null', { type: 'chardev', mode: 0o666, uid: 0, gid: 0, mtime: 5, rdev: [1, 3] }],
    ['/dev/sda', { type: 'blockdev', mode: 0o660, uid: 0, gid: 6, mtime: 5, rdev: [8, 0] }],
    ['/run', dir(0o1777)],
    ['/run/fifo', { type: 'fifo', mode: 0o600, uid: 1000, gid: 1000, mtime: 5 }],
    ['/a', file(3, { link: 1, xattrs: { 'user.test': Buffer.from('hello').toString('base64'), 'security.capability': 'AQAAAgAgAAAAAAAAAAAAAAAAAAA=' } })],
    ['/b', file(3, { link: 1 })],
    ['/empty', dir()],
    ['/l', { type: 'symlink', size: 1, mode: 0o777, uid: 0, gid: 0, mtime: 1 }]
  ]
  const a = encodeCatalog(rootfs(entries))
  const b = encodeCatalog(rootfs([...entries].reverse()))
  assert.deepEqual(Buffer.from(a), Buffer.from(b))
  const back = decodeCatalog(a)
  assert.equal(back.tree, TREE)
  assert.equal(back.rootfs, true)
  assert.deepEqual(back.entries.get('/dev/null'), entries[4][1])
  assert.deepEqual(Buffer.from(encodeCatalog(back)), Buffer.from(a))
  assert.match(Buffer.from(a).toString(), /^\{"entries":\{"\/":\{"gid":0,"mode":493,/)
})

test('a sizes catalog holds files and symlinks with sizes only', () => {
  const ok: Catalog = { tree: TREE, rootfs: false, entries: new Map([['/a', { type: 'file', size: 1 }], ['/d/l', { type: 'symlink', size: 4 }]]) }
  assert.deepEqual(decodeCatalog(encodeCatalog(ok)).entries, ok.entries)
  for (const e of [{ type: 'file', size: 1, mode: 0o644 }, { type: 'dir' }, { type: 'file' }] as CatalogEntry[]) {
    assert.throws(() => encodeCatalog({ tree: TREE, rootfs: false, entries: new Map([['/a', e]]) }), { code: 'EMALFORMED' }, JSON.stringify(e))
  }
})

test('decoding refuses non-canonical bytes, unknown fields, unsafe paths and broken structure', () => {
  const good = Buffer.from(encodeCatalog(rootfs([['/', dir()], ['/a', file(1)]]))).toString()
  const bad = [
    good.replace('{"entries"', '{ "entries"'), // whitespace
    good.replace('"size":1', '"size":1.0'),
    good.replace('"size":1', '"size":1,"size":1'),
    good.replace('"version":1', '"version":2'),
    good.replace('"/a"', '"/.git"'),
    good.replace('"/a"', '"/x/a"'), // no parent
    good.replace('"/a"', '"a"'),
    good.replace('"size":1', '"size":1,"zzz":1'),
    good.replace('"mode":420', '"mode":4096'), // beyond 07777
    '[]', 'not json', '\ufeff' + good
  ]
  for (const text of bad) assert.throws(() => decodeCatalog(Buffer.from(text)), { code: 'EMALFORMED' }, text.slice(0, 80))
  // hard-link groups: one path only, out of order, or mixed types
  assert.throws(() => encodeCatalog(rootfs([['/', dir()], ['/a', file(1, { link: 1 })]])), { code: 'EMALFORMED' })
  assert.throws(() => encodeCatalog(rootfs([['/', dir()], ['/a', file(1, { link: 2 })], ['/b', file(1, { link: 2 })]])), { code: 'EMALFORMED' })
  assert.throws(() => encodeCatalog(rootfs([['/', dir()], ['/a', file(1)], ['/d', { ...dir(), link: 1 }]])), { code: 'EMALFORMED' })
  assert.throws(() => encodeCatalog(rootfs([['/', dir()], ['/n', { type: 'chardev', mode: 0o600, uid: 0, gid: 0, mtime: 0 }]])), { code: 'EMALFORMED' }, 'device without rdev')
})

test('a catalog larger than its cap is refused before it is parsed', () => {
  // Not JSON at all: a parse would say EMALFORMED; the cap answers first.
  const big = Buffer.alloc(1025, 0x7b)
  assert.throws(() => decodeCatalog(big, { maxBytes: 1024 }), { code: 'ETOOLARGE' })
  assert.equal(MAX_CATALOG_BYTES, 64 * 1024 * 1024)
})

test('device numbers use the Linux dev_t encoding', () => {
  assert.equal(makeDev(1, 3), 0x103)
  assert.equal(makeDev(8, 0), 0x800)
  assert.deepEqual(splitDev(0x103), [1, 3])
  assert.deepEqual(splitDev(makeDev(259, 70000)), [259, 70000])
  // glibc makedev(0x1000, 0x100000): major bits above 12 and minor bits above 20 live in the high word
  const dev = 0x1000 * 2 ** 32 + 0x00100000 / 2 ** 20 * 2 ** 32
  assert.deepEqual(splitDev(dev), [0x1000, 0x100000])
})

test('a prefetch list (gtfs publish --trace) keeps its order, names files only, and is absent when empty', () => {
  const entries = new Map<string, CatalogEntry>([['/a', { type: 'file', size: 1 }], ['/b/c', { type: 'file', size: 2 }], ['/l', { type: 'symlink', size: 1 }]])
  const plain: Catalog = { tree: TREE, rootfs: false, entries }
  const plainBytes = Buffer.from(encodeCatalog(plain)).toString()
  assert.ok(!plainBytes.includes('prefetch'), 'a catalog without a trace keeps its old bytes')
  assert.equal(decodeCatalog(Buffer.from(plainBytes)).prefetch, undefined)

  const traced: Catalog = { ...plain, prefetch: ['/b/c', '/a'] }
  const bytes = encodeCatalog(traced)
  assert.match(Buffer.from(bytes).toString(), /"format":"gtfs-catalog","prefetch":\["\/b\/c","\/a"\],"rootfs":false/)
  assert.deepEqual(decodeCatalog(bytes).prefetch, ['/b/c', '/a'])
  assert.deepEqual(Buffer.from(encodeCatalog(decodeCatalog(bytes))), Buffer.from(bytes))

  for (const bad of [[], ['/nope'], ['/l'], ['/a', '/a'], ['a']]) {
    assert.throws(() => encodeCatalog({ ...plain, prefetch: bad }), { code: 'EMALFORMED' }, JSON.stringify(bad))
  }
  // the decoder refuses the same lists in bytes
  const forged = plainBytes.replace('"format":"gtfs-catalog"', '"format":"gtfs-catalog","prefetch":["/a","/a"]')
  assert.throws(() => decodeCatalog(Buffer.from(forged)), { code: 'EMALFORMED' })
})

test('chunk hashes: optional, first in the bytes, round-trip, strict', () => {
  const base: Catalog = { tree: TREE, rootfs: false, entries: new Map([['/big', { type: 'file', size: 5 << 20 }]]) }
  const plain = Buffer.from(encodeCatalog(base)).toString()
  assert.match(plain, /^\{"entries":/, 'no chunks: the bytes of before')
  const hex = 'ab'.repeat(32).repeat(5)
  const withChunks: Catalog = { ...base, chunks: { bytes: 1 << 20, hashes: new Map([['c'.repeat(40), hex], ['b'.repeat(40), 'cd'.repeat(32)]]) } }
  const bytes = encodeCatalog(withChunks)
  const text = Buffer.from(bytes).toString()
  assert.ok(text.startsWith(`{"chunkBytes":1048576,"chunks":{"${'b'.repeat(40)}":`), text.slice(0, 80))
  const back = decodeCatalog(bytes)
  assert.equal(back.chunks?.bytes, 1 << 20)
  assert.equal(back.chunks?.hashes.get('c'.repeat(40)), hex)
  assert.equal(chunkHash(hex, 4), 'ab'.repeat(32))
  assert.equal(chunkHash(hex, 5), undefined)
  const bad = [
    text.replace('"chunkBytes":1048576,', ''), // chunks without chunkBytes
    text.replace('"chunkBytes":1048576', '"chunkBytes":1000000'), // not a power of two
    text.replace('"chunkBytes":1048576', '"chunkBytes":1024'), // too small
    text.replace('"cdcd', '"CDCD'), // upper case
    text.replace('"cdcd', '"cdc'), // not whole hashes
    text.replace(`"${'b'.repeat(40)}"`, '"bbbb"'), // not a blob id
    text.replace(/"chunks":\{.*?\},"entries"/, '"chunks":{},"entries"'), // empty
    text.replace(`"${'c'.repeat(40)}"`, `"${'0'.repeat(40)}"`) // keys out of order
  ]
  for (const b of bad) assert.throws(() => decodeCatalog(Buffer.from(b)), { code: 'EMALFORMED' }, b.slice(0, 120))
  assert.throws(() => encodeCatalog({ ...base, chunks: { bytes: 1 << 20, hashes: new Map() } }), { code: 'EMALFORMED' })
})

test('a plain ASCII name is held to its length, first seen or a sibling; a sizes entry may carry rootfs keys only as undefined', () => {
  const files = (...paths: string[]): Catalog => ({ tree: TREE, rootfs: false, entries: new Map(paths.map(p => [p, { type: 'file', size: 1 }])) })
  const max = 'n'.repeat(255)
  assert.doesNotThrow(() => encodeCatalog(files(`/${max}`, `/d/a`, `/d/${max}`)))
  for (const paths of [[`/${max}x`], ['/d/a', `/d/${max}x`], [`/${max}x/a`]]) {
    assert.throws(() => encodeCatalog(files(...paths)), { code: 'EMALFORMED', message: /longer than 255 bytes/ }, paths.join(' ').slice(0, 40))
  }
  const spread: CatalogEntry = { type: 'file', size: 1, mode: undefined }
  assert.doesNotThrow(() => encodeCatalog({ tree: TREE, rootfs: false, entries: new Map([['/a', spread]]) }), 'an absent key written as undefined is absent')
})

test('an unsafe name is refused also among siblings of a checked path (only their last name is checked again)', () => {
  const files = (...paths: string[]): Catalog => ({ tree: TREE, rootfs: false, entries: new Map(paths.map(p => [p, { type: 'file', size: 1 }])) })
  assert.doesNotThrow(() => encodeCatalog(files('/d/a', '/d/b', '/dx/a', '/d/e/f')))
  for (const paths of [['/d/a', '/d/.git'], ['/d/a', '/d/GIT~1'], ['/d/a', '/d/..'], ['/d/a', '/d/.GiT\u200c'], ['/d', '/d.git/.git'], ['/d/a', '/dx/.git/x']]) {
    assert.throws(() => encodeCatalog(files(...paths)), { code: 'EMALFORMED' }, paths.join(' '))
  }
})

test('names that JSON escapes round-trip; the same names escaped another way, or bytes after the end, are refused', () => {
  const names = ['/quo"te', '/back\\slash', '/tab\there', '/caf\u00e9', '/emoji\u{1f600}', '/plain']
  const cat: Catalog = { tree: TREE, rootfs: false, entries: new Map(names.map(n => [n, { type: 'file', size: 2 }])), prefetch: ['/quo"te', '/plain'] }
  const text = Buffer.from(encodeCatalog(cat)).toString()
  assert.ok(text.includes('"/quo\\"te"') && text.includes('"/tab\\there"') && text.includes('"/caf\u00e9"'), text)
  const back = decodeCatalog(Buffer.from(text))
  assert.deepEqual([...back.entries.keys()].sort(), [...names].sort())
  assert.deepEqual(back.prefetch, cat.prefetch)
  const bad = [
    text.replace('"/plain"', '"\\/plain"'), // an escape JSON.stringify does not write
    text.replace('"/plain"', '"/pl\\u0061in"'),
    text.replace('"/caf\u00e9"', '"/caf\\u00e9"'),
    text.replace('"/tab\\there"', '"/tab\\u0009here"'),
    text + ' ',
    text + '{}'
  ]
  for (const b of bad) assert.throws(() => decodeCatalog(Buffer.from(b)), { code: 'EMALFORMED' }, b.slice(0, 120))
})

test('the one-pass reading of canonical text and the general path give the same answer on every mutation', () => {
  const rand = rng(Number(process.env.GTFS_FUZZ_SEED ?? 20261206))
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]
  const names = ['a', 'b.txt', 'caf\u00e9', 'quo"te', 'tab\there', 'e\u{1f600}', 'z', 'bin', 'x y', 'back\\slash']
  const sizes = (n: number): Catalog => {
    const entries = new Map<string, CatalogEntry>()
    for (let i = 0; i < n; i++) entries.set(`/${pick(names)}/${pick(names)}${i}`, { type: rand() < 0.9 ? 'file' : 'symlink', size: Math.floor(rand() * 2 ** (rand() * 50)) })
    const c: Catalog = { tree: TREE, rootfs: false, entries }
    if (rand() < 0.5) c.prefetch = [...entries.keys()].filter(p => entries.get(p)!.type === 'file').slice(0, 3)
    if (rand() < 0.4) c.chunks = { bytes: 1 << 20, hashes: new Map([['c'.repeat(40), 'ab'.repeat(64)], ['1'.repeat(40), 'cd'.repeat(32)]]) }
    return c
  }
  const root = (): Catalog => rootfs([
    ['/', dir()], ['/bin', dir()], ['/bin/su', file(10, { mode: 0o4755 })], ['/dev', dir()],
    ['/dev/null', { type: 'chardev', mode: 0o666, uid: 0, gid: 0, mtime: -5, rdev: [1, 3] }],
    ['/a', file(3, { link: 1, xattrs: { 'user.t': 'aGVsbG8=', 'security.capability': 'AQAAAgAgAAAAAAAAAAAAAAAAAAA=' } })],
    ['/b', file(3, { link: 1 })], ['/run', dir(0o1777)], ['/run/fifo', { type: 'fifo', mode: 0o600, uid: 1000, gid: 1000, mtime: 0 }]
  ])
  const samples = [root(), sizes(1), sizes(8), sizes(30), { tree: TREE, rootfs: false, entries: new Map() }].map(c => Buffer.from(encodeCatalog(c)).toString())
  const plain = samples.filter(t => !t.includes('\\'))
  for (const t of plain) assert.notEqual(scanCatalog(t), null, `the one-pass reading takes canonical text without escapes: ${t.slice(0, 100)}`)
  const alphabet = ['0', '1', '9', '-', '"', '\\', '{', '}', '[', ']', ',', ':', '.', '/', ' ', 'e', 'a', 't', 'u', '\u0000', '\u00e9', '"size":', '"type":"file"', ',"x":1', '"/', 'true', '-0', '00']
  const answer = (text: string, general: boolean): unknown => {
    try {
      const c = decodeCatalog(Buffer.from(text), { general })
      return { tree: c.tree, rootfs: c.rootfs, entries: [...c.entries], prefetch: c.prefetch, chunks: c.chunks === undefined ? undefined : [c.chunks.bytes, [...c.chunks.hashes]] }
    } catch (err) {
      return { code: (err as { code?: string }).code, message: (err as Error).message }
    }
  }
  let accepted = 0
  for (let n = 0; n < 4000; n++) {
    let text = pick(samples)
    for (let e = 1 + Math.floor(rand() * 3); e > 0; e--) {
      const at = Math.floor(rand() * (text.length + 1))
      const op = rand()
      const piece = pick(alphabet)
      if (op < 0.4) text = text.slice(0, at) + piece + text.slice(at + 1)
      else if (op < 0.7) text = text.slice(0, at) + piece + text.slice(at)
      else if (op < 0.85) text = text.slice(0, at) + text.slice(at + 1 + Math.floor(rand() * 8))
      else text = text.slice(0, at) + text.slice(Math.max(0, at - 12), at) + text.slice(at)
    }
    const fast = answer(text, false)
    assert.deepEqual(fast, answer(text, true), text)
    if (!('code' in (fast as object))) accepted++
  }
  assert.ok(accepted > 20, `some mutations stay valid (${accepted})`)
})

/**
 * A sizes catalog read in place: its entries looked up in its canonical text
 * by binary search, before (and without) decoding it. Decoding and checking
 * the bench's 50,000 paths took 75-150 ms of a first mount's main thread,
 * which on two cores also takes in the repo's trees and verifies signatures:
 * moving the decode to a worker beside them made neither faster (both cores
 * were busy). A mount now starts with this view, while the full check
 * (decodeCatalog, on a worker at low priority: publish/catalog-worker.ts)
 * runs behind it; then the view answers from the packed tables the check
 * returns (git/catalog-packed.ts), or, if the check refused the catalog,
 * every lookup fails with ECATALOG.
 *
 * What the view can say before the check ends is what the catalog's signers
 * signed: its bytes have the SHA-256 the verified manifest names. Sizes are
 * checked against the blobs they describe when those are read
 * (repo/commit-view.ts), as a checked catalog's are. An entry that is not in
 * the sized form `"<path>":{"size":<n>,"type":"file"|"symlink"}` fails the
 * lookup with ECATALOG at once.
 *
 * `sizesCatalogText` says which catalogs this takes: a sizes catalog whose
 * text is `{"entries":{...},"format":"gtfs-catalog","rootfs":false,"tree":"<40 hex>","version":1}`
 * (no chunk hashes, no prefetch list: those decode as before).
 */
import { IntegrityError } from '../errors.ts'
import type { CatalogEntry } from './catalog.ts'
import { PackedEntries, stringEnd, type PackedTables } from './catalog-packed.ts'
import { BACKSLASH, QUOTE } from './catalog-scan.ts'

const HEAD = '{"entries":{'
const TAIL = /\},"format":"gtfs-catalog","rootfs":false,"tree":"([0-9a-f]{40})","version":1\}$/
/** the value of a sized entry, from the colon after its key */
const SIZED_VALUE = /:\{"size":(0|[1-9][0-9]{0,15}),"type":"(file|symlink)"\}(?=[,}])/y

/** Where a sizes catalog's entries lie in its text, and its tree; null if the text is not of that shape. */
export function sizesCatalogText (text: string): { tree: string, from: number, to: number } | null {
  if (!text.startsWith(HEAD)) return null
  const m = TAIL.exec(text.slice(-128))
  if (m === null) return null
  return { tree: m[1], from: HEAD.length, to: text.length - m[0].length }
}

function bad (why: string): IntegrityError {
  return new IntegrityError(`catalog: ${why}`, { code: 'ECATALOG' })
}

/** The entries of a sizes catalog: its text searched in place, then its packed tables once checked. */
export class SizesCatalogEntries implements ReadonlyMap<string, CatalogEntry> {
  private packed: PackedEntries | null = null
  private failed: Error | null = null
  private count = -1

  /** `from`, `to`: the entries' span, inside the braces (sizesCatalogText) */
  constructor (private readonly text: string, private readonly from: number, private readonly to: number) {}

  /** The full check passed: answer from its tables from now on. */
  checked (tables: PackedTables): void {
    if (this.failed === null) this.packed = new PackedEntries(this.text, tables)
  }

  /** The full check refused the catalog: every lookup fails from now on. */
  refused (err: Error): void {
    this.failed = err
    this.packed = null
  }

  /** whether the full check has passed */
  get isChecked (): boolean {
    return this.packed !== null
  }

  private usable (): PackedEntries | null {
    if (this.failed !== null) throw bad(`refused by its check: ${this.failed.message}`)
    return this.packed
  }

  /** Where the entry at or after `pos` begins (an entry boundary is `},"`, which no key or sized value holds), or `to`. */
  private startAtOrAfter (pos: number): number {
    if (pos <= this.from) return this.from
    const i = this.text.indexOf('},"', pos - 2)
    return i < 0 || i + 2 >= this.to ? this.to : i + 2
  }

  /** The end of the key that starts at `s` (its closing quote) and whether it has escapes. */
  private keyEnd (s: number): { end: number, escaped: boolean } {
    if (this.text.charCodeAt(s) !== QUOTE) throw bad(`no key at ${s}`)
    const k = stringEnd(this.text, s, this.to)
    if (k.end < 0) throw bad('a key runs past the entries')
    return k
  }

  private keyAt (s: number): { key: string, end: number } {
    const { end, escaped } = this.keyEnd(s)
    const raw = this.text.slice(s, end + 1)
    return { key: escaped ? JSON.parse(raw) as string : raw.slice(1, -1), end }
  }

  /** The key at `s` against `key` in UTF-16 code units (the catalog's order): <0, 0, >0. */
  private compareAt (s: number, key: string): number {
    const t = this.text
    if (t.charCodeAt(s) !== QUOTE) throw bad(`no key at ${s}`)
    for (let i = 0; i < key.length; i++) {
      const c = t.charCodeAt(s + 1 + i)
      if (c === BACKSLASH) {
        const k = this.keyAt(s).key
        return k < key ? -1 : k > key ? 1 : 0
      }
      if (c === QUOTE) return -1
      const d = c - key.charCodeAt(i)
      if (d !== 0) return d
    }
    const c = t.charCodeAt(s + 1 + key.length)
    return c === QUOTE ? 0 : 1
  }

  private valueAt (keyEnd: number): { entry: CatalogEntry, end: number } {
    SIZED_VALUE.lastIndex = keyEnd + 1
    const m = SIZED_VALUE.exec(this.text)
    if (m === null) throw bad(`the entry at ${keyEnd} is not a sized file or symlink`)
    return { entry: { size: Number(m[1]), type: m[2] as 'file' | 'symlink' }, end: SIZED_VALUE.lastIndex }
  }

  /** the start of the entry `key`, or -1 */
  private search (key: string): number {
    let lo = this.from
    let hi = this.to
    while (lo < hi) {
      let s = this.startAtOrAfter((lo + hi) >>> 1)
      if (s >= hi) s = lo
      const c = this.compareAt(s, key)
      if (c === 0) return s
      if (c < 0) lo = this.startAtOrAfter(s + 1)
      else hi = s
    }
    return -1
  }

  get (key: string): CatalogEntry | undefined {
    const p = this.usable()
    if (p !== null) return p.get(key)
    const s = this.search(key)
    return s < 0 ? undefined : this.valueAt(this.keyEnd(s).end).entry
  }

  has (key: string): boolean {
    return this.get(key) !== undefined
  }

  get size (): number {
    const p = this.usable()
    if (p !== null) return p.size
    if (this.count < 0) {
      let n = 0
      for (const _ of this.entries()) n++
      this.count = n
    }
    return this.count
  }

  * entries (): MapIterator<[string, CatalogEntry]> {
    const p = this.usable()
    if (p !== null) {
      yield * p.entries()
      return
    }
    for (let s = this.from; s < this.to;) {
      const { key, end } = this.keyAt(s)
      const v = this.valueAt(end)
      yield [key, v.entry]
      s = v.end + 1
    }
  }

  * keys (): MapIterator<string> {
    for (const [k] of this.entries()) yield k
  }

  * values (): MapIterator<CatalogEntry> {
    for (const [, v] of this.entries()) yield v
  }

  [Symbol.iterator] (): MapIterator<[string, CatalogEntry]> {
    return this.entries()
  }

  forEach (f: (value: CatalogEntry, key: string, map: ReadonlyMap<string, CatalogEntry>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) f.call(thisArg, v, k, this)
  }
}

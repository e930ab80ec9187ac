/**
 * A sizes catalog's entries as a few typed arrays over its text, so that a
 * thread that did not decode it can look paths up without building them.
 *
 * A mount decodes and checks its catalog on a worker thread (the main thread
 * meanwhile verifies signatures and takes in trees): 75-150 ms of the main
 * thread's path to the first byte for the bench's 50,000 paths. Sending the
 * decoded Map back would cost the main thread about as much as decoding it,
 * object by object. These tables move instead (transferred, not copied), and
 * `PackedEntries` answers `get(path)` from them and the text: a hash probe
 * and a comparison of the path with its key in place. An entry object is made
 * when asked for.
 *
 * Only sizes catalogs (every entry `{"size":n,"type":"file"|"symlink"}`, no
 * nested values): a rootfs catalog is indexed by directory at mount anyway
 * (repo/commit-view.ts), so it is decoded where it is used. packEntries runs
 * on a catalog decodeCatalog checked, and checks what it relies on again.
 */
import { ProtocolError } from '../errors.ts'
import type { CatalogEntry } from './catalog.ts'
import { BACKSLASH, QUOTE } from './catalog-scan.ts'

export interface PackedTables {
  /** UTF-16 offset in the text of each key's first character, in text order */
  keyStart: Int32Array<ArrayBuffer>
  /** one past each key's last character */
  keyEnd: Int32Array<ArrayBuffer>
  sizes: Float64Array<ArrayBuffer>
  /** per entry: SYMLINK (else a file), ESCAPED (the key has JSON escapes) */
  flags: Uint8Array<ArrayBuffer>
  /** open addressing by `hashKey(key, seed)`: entry index + 1, 0 for none; a power of two long */
  slots: Int32Array<ArrayBuffer>
  seed: number
}

const SYMLINK = 1
const ESCAPED = 2
const COMMA = 0x2c
const CLOSE = 0x7d
const ENTRIES = '"entries":{'

/**
 * The index of the quote that closes the JSON string opening at `open` (a
 * quote), before `limit`, and whether the string has escapes; -1 if it does
 * not close there.
 */
export function stringEnd (text: string, open: number, limit: number): { end: number, escaped: boolean } {
  let escaped = false
  for (let q = open + 1; q < limit; q++) {
    const c = text.charCodeAt(q)
    if (c === QUOTE) return { end: q, escaped }
    if (c === BACKSLASH) { escaped = true; q++ }
  }
  return { end: -1, escaped }
}

/**
 * FNV-1a over UTF-16 code units, from a per-process random `seed`: a signed
 * catalog's paths cannot be chosen to collide in a reader's table.
 */
export function hashKey (s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

function broken (why: string): ProtocolError {
  return new ProtocolError('EMALFORMED', `catalog: cannot pack its entries: ${why}`)
}

/**
 * The tables of a decoded, checked sizes catalog: `text` its text, `entries`
 * what decodeCatalog made of it, in the text's order (both of its paths build
 * the Map in that order). Each key is found where the text has it, in place.
 */
export function packEntries (text: string, entries: ReadonlyMap<string, CatalogEntry>, seed: number): PackedTables {
  const n = entries.size
  const keyStart = new Int32Array(n)
  const keyEnd = new Int32Array(n)
  const sizes = new Float64Array(n)
  const flags = new Uint8Array(n)
  let size = 2
  while (size < 2 * n) size *= 2
  const slots = new Int32Array(size)
  const mask = size - 1
  let p = text.indexOf(ENTRIES)
  if (p < 0) throw broken('no entries')
  p += ENTRIES.length
  let i = 0
  for (const [key, e] of entries) {
    if (text.charCodeAt(p) !== QUOTE) throw broken(`no key at ${p}`)
    const start = p + 1
    let end = start + key.length
    let escaped = false
    if (!(text.charCodeAt(end) === QUOTE && text.startsWith(key, start))) {
      // an escaped key: its text ends at the first quote not escaped
      escaped = true
      end = stringEnd(text, p, text.length).end
      if (end < 0) throw broken('a key runs past the end')
      if (JSON.parse(text.slice(p, end + 1)) !== key) throw broken(`key ${JSON.stringify(key)} is not where the text has it`)
    }
    if ((e.type !== 'file' && e.type !== 'symlink') || typeof e.size !== 'number') throw broken(`entry ${JSON.stringify(key)} is not a sized file or symlink`)
    keyStart[i] = start
    keyEnd[i] = end
    sizes[i] = e.size
    flags[i] = (e.type === 'symlink' ? SYMLINK : 0) | (escaped ? ESCAPED : 0)
    let s = hashKey(key, seed) & mask
    while (slots[s] !== 0) s = (s + 1) & mask
    slots[s] = i + 1
    // a sized entry's value holds no object and no brace
    p = text.indexOf('}', end) + 1
    if (p === 0 || text.charCodeAt(p) !== (i === n - 1 ? CLOSE : COMMA)) throw broken(`entry ${JSON.stringify(key)} does not end as a sized entry`)
    p++
    i++
  }
  return { keyStart, keyEnd, sizes, flags, slots, seed }
}

/** The entries of a packed sizes catalog: a read-only Map over its tables. */
export class PackedEntries implements ReadonlyMap<string, CatalogEntry> {
  readonly size: number
  private readonly mask: number

  constructor (private readonly text: string, private readonly t: PackedTables) {
    this.size = t.keyStart.length
    this.mask = t.slots.length - 1
  }

  /** the key of entry `i`, as a string of its own */
  keyAt (i: number): string {
    const raw = this.text.slice(this.t.keyStart[i] - 1, this.t.keyEnd[i] + 1)
    return (this.t.flags[i] & ESCAPED) !== 0 ? JSON.parse(raw) as string : raw.slice(1, -1)
  }

  private entryAt (i: number): CatalogEntry {
    return { size: this.t.sizes[i], type: (this.t.flags[i] & SYMLINK) !== 0 ? 'symlink' : 'file' }
  }

  private find (key: string): number {
    const { slots, keyStart, keyEnd, flags } = this.t
    for (let s = hashKey(key, this.t.seed) & this.mask; ; s = (s + 1) & this.mask) {
      const at = slots[s]
      if (at === 0) return -1
      const i = at - 1
      if ((flags[i] & ESCAPED) === 0) {
        if (keyEnd[i] - keyStart[i] === key.length && this.text.startsWith(key, keyStart[i])) return i
      } else if (this.keyAt(i) === key) {
        return i
      }
    }
  }

  get (key: string): CatalogEntry | undefined {
    const i = this.find(key)
    return i < 0 ? undefined : this.entryAt(i)
  }

  has (key: string): boolean {
    return this.find(key) >= 0
  }

  * entries (): MapIterator<[string, CatalogEntry]> {
    for (let i = 0; i < this.size; i++) yield [this.keyAt(i), this.entryAt(i)]
  }

  * keys (): MapIterator<string> {
    for (let i = 0; i < this.size; i++) yield this.keyAt(i)
  }

  * values (): MapIterator<CatalogEntry> {
    for (let i = 0; i < this.size; i++) yield this.entryAt(i)
  }

  [Symbol.iterator] (): MapIterator<[string, CatalogEntry]> {
    return this.entries()
  }

  forEach (f: (value: CatalogEntry, key: string, map: ReadonlyMap<string, CatalogEntry>) => void, thisArg?: unknown): void {
    for (let i = 0; i < this.size; i++) f.call(thisArg, this.entryAt(i), this.keyAt(i), this)
  }
}

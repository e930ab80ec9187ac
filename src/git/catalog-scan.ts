/**
 * The fast path of decodeCatalog (catalog.ts): one pass over the text that
 * follows the canonical encoding exactly as encodeCatalog writes it, building
 * the catalog as it goes. JSON.parse, a Map built from its objects and the
 * encoding compared piece by piece cost a fresh process ~300 ms for the bench's
 * 50,000 paths, on the path from `gtfs mount` to its first byte.
 *
 * It returns null wherever it is not sure: a string with an escape or a
 * control character, a number of more than 15 digits, anything off the
 * grammar. decodeCatalog then takes the general path (JSON.parse and the
 * re-encoding), which says precisely what is wrong. So it accepts nothing the
 * general path refuses: what it reads is the encoder's own text for what it
 * built (keys in encoding order and strictly increasing, so no duplicates;
 * integers as String() writes them; strings raw), and the caller runs the same
 * semantic checks on it. A test holds the two paths to the same answers on
 * mutated catalogs.
 */
import type { Catalog, CatalogEntry, CatalogKind } from './catalog.ts'

/** Entry keys in encoding order (catalog.ts ENTRY_KEYS). */
const KEY_INDEX = new Map<string, number>([['gid', 0], ['link', 1], ['mode', 2], ['mtime', 3], ['rdev', 4], ['size', 5], ['type', 6], ['uid', 7], ['xattrs', 8]])
const KINDS = new Set<string>(['file', 'dir', 'symlink', 'chardev', 'blockdev', 'fifo', 'socket'])

export const QUOTE = 0x22
export const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const MINUS = 0x2d
const ZERO = 0x30
const NINE = 0x39

/**
 * The entry of a sizes catalog with its path: `"<path>":{"size":<n>,"type":"file"}`
 * (or "symlink"), ending in "," or "}". One native match per entry instead of
 * a character loop: most of a catalog is these.
 */
const SIZED = /"([^"\\\x00-\x1f]*)":\{"size":(0|[1-9][0-9]{0,14}),"type":"(file|symlink)"\}(?=[,}])/y

/** Thrown inside the scan where the text leaves the fast grammar; never escapes scanCatalog. */
const BAIL = Symbol('bail')

class Scanner {
  pos = 0
  constructor (readonly text: string) {}

  lit (s: string): void {
    if (!this.text.startsWith(s, this.pos)) throw BAIL
    this.pos += s.length
  }

  /** Whether the next character is `c`; takes it if so. */
  take (c: number): boolean {
    if (this.text.charCodeAt(this.pos) !== c) return false
    this.pos++
    return true
  }

  /** A JSON string without escapes or control characters (as JSON.stringify writes it then), raw. */
  str (): string {
    const t = this.text
    if (t.charCodeAt(this.pos) !== QUOTE) throw BAIL
    const start = this.pos + 1
    let i = start
    for (;;) {
      const c = t.charCodeAt(i)
      if (c === QUOTE) break
      // NaN past the end fails here too
      if (!(c >= 0x20) || c === BACKSLASH) throw BAIL
      i++
    }
    this.pos = i + 1
    return t.slice(start, i)
  }

  /** An integer as String() writes a safe one: no leading zeros, no "-0", at most 15 digits (exact in a double). */
  int (): number {
    const t = this.text
    const neg = t.charCodeAt(this.pos) === MINUS
    let i = neg ? this.pos + 1 : this.pos
    const first = i
    let v = 0
    for (;;) {
      const c = t.charCodeAt(i)
      if (!(c >= ZERO && c <= NINE)) break
      v = v * 10 + (c - ZERO)
      i++
    }
    const digits = i - first
    if (digits === 0 || digits > 15 || (digits > 1 && t.charCodeAt(first) === ZERO) || (neg && v === 0)) throw BAIL
    this.pos = i
    return neg ? -v : v
  }

  entry (): CatalogEntry {
    this.lit('{')
    // Built in text order, as JSON.parse builds it: the same object, key for key.
    const e: Record<string, unknown> = {}
    let last = -1
    do {
      const key = this.str()
      const k = KEY_INDEX.get(key)
      if (k === undefined || k <= last) throw BAIL
      last = k
      if (!this.take(COLON)) throw BAIL
      if (key === 'type') {
        const kind = this.str()
        if (!KINDS.has(kind)) throw BAIL
        e.type = kind as CatalogKind
      } else if (key === 'rdev') {
        this.lit('[')
        const major = this.int()
        if (!this.take(COMMA)) throw BAIL
        const minor = this.int()
        this.lit(']')
        e.rdev = [major, minor]
      } else if (key === 'xattrs') {
        e.xattrs = this.xattrs()
      } else {
        e[key] = this.int()
      }
    } while (this.take(COMMA))
    this.lit('}')
    return e as unknown as CatalogEntry
  }

  /** `{"name":"value",...}`, names strictly increasing; names without a "." (never valid, "__proto__" among them) are left to the general path. */
  xattrs (): Record<string, string> {
    this.lit('{')
    const x: Record<string, string> = {}
    let prev = ''
    let n = 0
    do {
      const name = this.str()
      if (!name.includes('.') || (n > 0 && !(prev < name))) throw BAIL
      if (!this.take(COLON)) throw BAIL
      x[name] = this.str()
      prev = name
      n++
    } while (this.take(COMMA))
    this.lit('}')
    return x
  }

  /** The entries object; keys strictly increasing. */
  entries (): Map<string, CatalogEntry> {
    const out = new Map<string, CatalogEntry>()
    const t = this.text
    this.lit('{')
    if (this.take(0x7d)) return out
    let prev: string | null = null
    do {
      let path: string
      SIZED.lastIndex = this.pos
      const m = SIZED.exec(t)
      if (m !== null) {
        path = m[1]
        if (prev !== null && !(prev < path)) throw BAIL
        // key order as in the text, as JSON.parse builds it
        out.set(path, { size: Number(m[2]), type: m[3] as CatalogKind })
        this.pos = SIZED.lastIndex
      } else {
        path = this.str()
        if (prev !== null && !(prev < path)) throw BAIL
        if (!this.take(COLON)) throw BAIL
        out.set(path, this.entry())
      }
      prev = path
    } while (this.take(COMMA))
    this.lit('}')
    return out
  }

  /** `{"key":value,...}` with keys strictly increasing, or `{}`; `value` reads one value. */
  keyed<T> (value: () => T, into: Map<string, T>): void {
    this.lit('{')
    if (this.take(0x7d)) return
    let prev: string | null = null
    do {
      const key = this.str()
      if (prev !== null && !(prev < key)) throw BAIL
      if (!this.take(COLON)) throw BAIL
      into.set(key, value())
      prev = key
    } while (this.take(COMMA))
    this.lit('}')
  }
}

/**
 * The catalog `text` encodes, when `text` is in the fast grammar, its entries'
 * paths in encoding order (strictly increasing, as checks want them) and the
 * entries in the same order; else null.
 * Nothing is validated beyond the grammar: the caller runs the catalog checks.
 */
export function scanCatalog (text: string): { catalog: Catalog, paths: string[], values: CatalogEntry[] } | null {
  const s = new Scanner(text)
  try {
    s.lit('{')
    let chunks: Catalog['chunks']
    if (text.startsWith('"chunkBytes":', s.pos)) {
      s.pos += '"chunkBytes":'.length
      const bytes = s.int()
      s.lit(',"chunks":')
      const hashes = new Map<string, string>()
      s.keyed(() => s.str(), hashes)
      s.lit(',')
      chunks = { bytes, hashes }
    }
    s.lit('"entries":')
    const entries = s.entries()
    s.lit(',"format":"gtfs-catalog"')
    let prefetch: string[] | undefined
    if (text.startsWith(',"prefetch":[', s.pos)) {
      s.pos += ',"prefetch":['.length
      prefetch = []
      if (!s.take(0x5d)) {
        do prefetch.push(s.str()); while (s.take(COMMA))
        s.lit(']')
      }
    }
    s.lit(',"rootfs":')
    let rootfs: boolean
    if (text.startsWith('true', s.pos)) { rootfs = true; s.pos += 4 } else { s.lit('false'); rootfs = false }
    s.lit(',"tree":')
    const tree = s.str()
    s.lit(',"version":1}')
    if (s.pos !== text.length) return null
    const catalog: Catalog = { tree, rootfs, entries }
    if (prefetch !== undefined) catalog.prefetch = prefetch
    if (chunks !== undefined) catalog.chunks = chunks
    return { catalog, paths: [...entries.keys()], values: [...entries.values()] }
  } catch (err) {
    if (err === BAIL) return null
    throw err
  }
}

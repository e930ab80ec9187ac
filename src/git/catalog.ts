/**
 * Catalogs: what a git tree does not hold, per published commit. Pure codec:
 * build, encode, decode; no I/O (capture is src/publish/, use is
 * src/repo/commit-view.ts, the hash check against the signed manifest is
 * src/trust/catalog-check.ts).
 *
 * Two kinds, one format:
 * - a SIZES catalog (`rootfs: false`) lists every file and symlink of the tree
 *   with its size, so `stat` never waits for a blob. Entries hold `type` and
 *   `size` only.
 * - a ROOTFS catalog (`rootfs: true`) lists every path of a captured
 *   directory, "/" included, with `mode` (permission bits 0..07777, so setuid,
 *   setgid and sticky too; the file type is `type`), `uid`, `gid`, `mtime`
 *   (unix seconds), `size` for files and symlinks, `rdev` [major, minor] for
 *   device nodes, `xattrs` (name → base64 value) and `link` (hard-link group:
 *   paths with the same number are one inode). Entries git cannot hold (empty
 *   directories, device nodes, fifos, sockets) exist only here.
 *
 * Bytes (version 1): UTF-8 JSON without whitespace, integers only, object keys
 * sorted by UTF-16 code units (as JCS, RFC 8785), entries keyed by absolute
 * path ("/", "/etc/passwd"), hard-link groups numbered 1, 2, ... in order of
 * their first path. Decoding re-encodes and requires the same bytes, so one
 * catalog has exactly one encoding and its SHA-256 names it. The size cap is
 * checked before anything is decoded.
 *
 *   {"entries":{"/":{"gid":0,"mode":493,"mtime":1700000000,"type":"dir","uid":0},...},
 *    "format":"gtfs-catalog","rootfs":true,"tree":"<40 hex>","version":1}
 *
 * Optional `prefetch` (between "format" and "rootfs"): the files a traced
 * command opened (`gtfs publish --trace`), in the order it first opened them,
 * each a file entry of the catalog, no repeats, at most MAX_PREFETCH_PATHS. A
 * reader fetches them in that order right after mounting. Absent when empty,
 * so a catalog without a trace has the same bytes as before the field existed.
 *
 * Optional `chunkBytes` and `chunks` (first, before "entries"; both or
 * neither): for each blob of the tree of at least CHUNKED_BLOB_BYTES, the
 * SHA-256 of each `chunkBytes` slice of its content (the last one shorter),
 * concatenated as lowercase hex, keyed by the blob's id:
 * `"chunkBytes":1048576,"chunks":{"<40 hex>":"<64 hex × ceil(size / chunkBytes)>"}`.
 * Signed with the catalog, they let a reader verify any chunk of a large blob
 * on its own, fetch chunks from several peers at once and serve a ranged read
 * before the whole blob is here (repo/chunked-blob.ts). Absent when no blob is
 * that large, so such catalogs keep their bytes. A gtfs that predates the
 * field refuses the catalog (EMALFORMED, unknown field "chunkBytes"), as it
 * refuses `prefetch`.
 */
import { ProtocolError } from '../errors.ts'
import type { ObjectId } from '../types.ts'
import { scanCatalog } from './catalog-scan.ts'
import { isPlainlySafeName, unsafeNameReason } from './path-safety.ts'

export const CATALOG_FORMAT = 'gtfs-catalog'
export const CATALOG_VERSION = 1
/** bytes; the same cap as trust's MAX_CATALOG_BYTES (a distro root has ~10^5 paths) */
export const MAX_CATALOG_BYTES = 64 * 1024 * 1024
/** paths in one catalog */
export const MAX_CATALOG_ENTRIES = 4_000_000
/** blobs of at least this many bytes get chunk hashes at publish */
export const CHUNKED_BLOB_BYTES = 4 * 1024 * 1024
/** bytes of one chunk, as publish writes them; readers take `chunkBytes` from the catalog */
export const DEFAULT_CHUNK_BYTES = 1024 * 1024
/** `chunkBytes` is a power of two in this range */
export const MIN_CHUNK_BYTES = 64 * 1024
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024
/** chunks of one blob */
export const MAX_CHUNKS_PER_BLOB = 65_536
/** paths in a catalog's prefetch list */
export const MAX_PREFETCH_PATHS = 1_000_000
/** Linux limits: XATTR_NAME_MAX, XATTR_SIZE_MAX, PATH_MAX, NAME_MAX */
export const MAX_XATTR_NAME_BYTES = 255
export const MAX_XATTR_VALUE_BYTES = 65_536
export const MAX_XATTRS_PER_ENTRY = 128
export const MAX_PATH_BYTES = 4096
export const MAX_NAME_BYTES = 255
/** device numbers that fit the 32-bit encoding FUSE passes (12-bit major, 20-bit minor) */
export const MAX_MAJOR = 0xfff
export const MAX_MINOR = 0xfffff

export type CatalogKind = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket'
const KINDS = new Set<string>(['file', 'dir', 'symlink', 'chardev', 'blockdev', 'fifo', 'socket'])

export interface CatalogEntry {
  type: CatalogKind
  /** bytes; files and symlinks */
  size?: number
  /** permission bits including setuid (04000), setgid (02000), sticky (01000); rootfs only */
  mode?: number
  uid?: number
  gid?: number
  /** unix seconds */
  mtime?: number
  /** [major, minor]; device nodes only */
  rdev?: [number, number]
  /** hard-link group (1, 2, ...): every path of a group is one inode */
  link?: number
  /** xattr name → base64 value */
  xattrs?: Record<string, string>
}

export interface Catalog {
  /** the root tree of the commit the catalog describes */
  tree: ObjectId
  rootfs: boolean
  entries: ReadonlyMap<string, CatalogEntry>
  /** files to fetch right after mounting, in this order (a trace of `gtfs publish --trace`) */
  prefetch?: string[]
  /** SHA-256s of the `bytes`-sized slices of large blobs (see the module comment) */
  chunks?: ChunkHashes
}

export interface ChunkHashes {
  /** bytes per chunk */
  bytes: number
  /** blob id → concatenated lowercase hex SHA-256s, one per chunk */
  hashes: Map<ObjectId, string>
}

/** The SHA-256 (hex) of chunk `index` of a blob, or undefined past its end. */
export function chunkHash (hashes: string, index: number): string | undefined {
  return index >= 0 && (index + 1) * 64 <= hashes.length ? hashes.slice(index * 64, (index + 1) * 64) : undefined
}

const ENTRY_KEYS = ['gid', 'link', 'mode', 'mtime', 'rdev', 'size', 'type', 'uid', 'xattrs'] as const
const ENTRY_KEY_SET = new Set<string>(ENTRY_KEYS)
const ROOTFS_KEYS = ['mode', 'uid', 'gid', 'mtime', 'rdev', 'link', 'xattrs'] as const
type RootfsKey = typeof ROOTFS_KEYS[number]
const ROOTFS_KEY_SET = new Set<string>(ROOTFS_KEYS)
const HEX40 = /^[0-9a-f]{40}$/
const HEX = /^[0-9a-f]*$/
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const LONE_SURROGATE = /\p{Cs}/u
const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function malformed (why: string): ProtocolError {
  return new ProtocolError('EMALFORMED', `catalog: ${why}`)
}

/** JS string order (UTF-16 code units), the order of the encoding. */
function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Why `path` cannot be a catalog key, or null. Keys are absolute, normalized,
 * safe. `safeNames` remembers components already found safe: a catalog
 * repeats the same directory and file names many times. `safeDir` is a
 * directory whose path was found safe: its entries' other names are not
 * checked again.
 */
export function catalogPathProblem (path: string, safeNames?: Set<string>, safeDir?: string): string | null {
  if (typeof path !== 'string' || !path.startsWith('/')) return 'must start with "/"'
  if (path === '/') return null
  if (LONE_SURROGATE.test(path)) return 'holds a lone surrogate'
  // UTF-8 takes at most 3 bytes per UTF-16 unit: most paths need no count.
  if (path.length * 3 > MAX_PATH_BYTES && Buffer.byteLength(path) > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`
  // A sibling of the path checked before: only the last name is new.
  const last = path.lastIndexOf('/')
  if (safeDir !== undefined && last > 0 && last === safeDir.length && path.startsWith(safeDir)) return nameProblem(path.slice(last + 1), safeNames)
  for (const name of path.slice(1).split('/')) {
    const why = nameProblem(name, safeNames)
    if (why !== null) return why
  }
  return null
}

function nameProblem (name: string, safeNames: Set<string> | undefined): string | null {
  // ASCII and plainly safe (nearly every name): its one remaining rule is its
  // length. Remembering such names cost more than checking them: 50,000
  // mostly unique file names, each hashed for the lookup and then added.
  if (isPlainlySafeName(name)) return name.length > MAX_NAME_BYTES ? `has a component longer than ${MAX_NAME_BYTES} bytes` : null
  if (safeNames?.has(name) === true) return null
  const why = unsafeNameReason(name)
  if (why !== null) return `has an unsafe component (${why})`
  if (name.length * 3 > MAX_NAME_BYTES && Buffer.byteLength(name) > MAX_NAME_BYTES) return `has a component longer than ${MAX_NAME_BYTES} bytes`
  safeNames?.add(name)
  return null
}

export function parentOf (path: string): string {
  const slash = path.lastIndexOf('/')
  return slash <= 0 ? '/' : path.slice(0, slash)
}

/** Linux dev_t (glibc makedev) for devices that fit 32 bits: what stat shows as st_rdev. */
export function makeDev (major: number, minor: number): number {
  return ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12)) >>> 0
}

/** major/minor of a dev_t as node's lstat reports it (a number, possibly above 32 bits). */
export function splitDev (dev: number): [number, number] {
  const lo = dev % 2 ** 32
  const hi = Math.floor(dev / 2 ** 32)
  const major = ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0)
  const minor = (lo & 0xff) | (((lo >>> 12) & 0xfff00) >>> 0) | (((hi & 0xfff) * 2 ** 20) >>> 0)
  return [major >>> 0, minor >>> 0]
}

/** How errors name an entry; built only on failure (checks run once per path of a 10^5-path catalog). */
const at = (path: string): string => `entry ${JSON.stringify(path)}`

function checkInt (path: string, v: unknown, name: string, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) throw malformed(`${at(path)}: ${name} must be an integer in ${min}..${max}`)
}

/** Checks one entry against the rules of its catalog kind. */
function checkEntry (path: string, e: CatalogEntry, rootfs: boolean): void {
  if (!KINDS.has(e.type)) throw malformed(`${at(path)}: unknown type ${JSON.stringify(e.type)}`)
  const sized = e.type === 'file' || e.type === 'symlink'
  if (sized) checkInt(path, e.size, 'size', 0, Number.MAX_SAFE_INTEGER)
  else if (e.size !== undefined) throw malformed(`${at(path)}: only files and symlinks have a size`)
  if (!rootfs) {
    if (!sized) throw malformed(`${at(path)}: a sizes catalog lists files and symlinks only`)
    // the entry's own keys (two, nearly always), not a look for each of seven absent ones
    for (const k in e) {
      if (ROOTFS_KEY_SET.has(k) && e[k as RootfsKey] !== undefined) throw malformed(`${at(path)}: "${k}" belongs in a rootfs catalog only`)
    }
    return
  }
  checkInt(path, e.mode, 'mode', 0, 0o7777)
  checkInt(path, e.uid, 'uid', 0, 0xffffffff)
  checkInt(path, e.gid, 'gid', 0, 0xffffffff)
  checkInt(path, e.mtime, 'mtime', -(2 ** 52), 2 ** 52)
  const device = e.type === 'chardev' || e.type === 'blockdev'
  if (device) {
    if (!Array.isArray(e.rdev) || e.rdev.length !== 2) throw malformed(`${at(path)}: a device node needs rdev [major, minor]`)
    checkInt(path, e.rdev[0], 'rdev major', 0, MAX_MAJOR)
    checkInt(path, e.rdev[1], 'rdev minor', 0, MAX_MINOR)
  } else if (e.rdev !== undefined) {
    throw malformed(`${at(path)}: only device nodes have rdev`)
  }
  if (e.link !== undefined) {
    checkInt(path, e.link, 'link', 1, MAX_CATALOG_ENTRIES)
    if (e.type === 'dir') throw malformed(`${at(path)}: a directory cannot be hard-linked`)
  }
  if (e.xattrs !== undefined) {
    if (e.xattrs === null || typeof e.xattrs !== 'object' || Array.isArray(e.xattrs)) throw malformed(`${at(path)}: xattrs must be an object`)
    const names = Object.keys(e.xattrs)
    if (names.length === 0) throw malformed(`${at(path)}: an empty xattrs object is written as no xattrs`)
    if (names.length > MAX_XATTRS_PER_ENTRY) throw malformed(`${at(path)}: more than ${MAX_XATTRS_PER_ENTRY} xattrs`)
    for (const name of names) {
      const bytes = Buffer.byteLength(name)
      if (bytes === 0 || bytes > MAX_XATTR_NAME_BYTES || name.includes('\0') || !name.includes('.') || LONE_SURROGATE.test(name)) {
        throw malformed(`${at(path)}: bad xattr name ${JSON.stringify(name)}`)
      }
      const value = e.xattrs[name]
      if (typeof value !== 'string' || !BASE64.test(value) || value.length > Math.ceil(MAX_XATTR_VALUE_BYTES / 3) * 4) {
        throw malformed(`${at(path)}: xattr ${name} must be base64 of at most ${MAX_XATTR_VALUE_BYTES} bytes`)
      }
    }
  }
}

/**
 * Checks a whole catalog: paths, entries, the parent of every rootfs entry
 * (a directory listed in the catalog), and hard-link groups (two paths or
 * more, all of one type, numbered in order of first appearance).
 */
export function validateCatalog (catalog: Catalog): void {
  checkCatalog(catalog)
}

/**
 * validateCatalog; returns the paths sorted, as the encoding lists them.
 * `sorted`: the entries' paths already in that order, strictly increasing,
 * and `values` their entries in the same order (no lookup per path).
 */
function checkCatalog (catalog: Catalog, sorted?: string[], values?: CatalogEntry[]): string[] {
  if (typeof catalog.tree !== 'string' || !HEX40.test(catalog.tree)) throw malformed('tree must be a 40-hex tree id')
  if (typeof catalog.rootfs !== 'boolean') throw malformed('rootfs must be a boolean')
  if (!(catalog.entries instanceof Map)) throw malformed('entries must be a Map')
  if (catalog.entries.size > MAX_CATALOG_ENTRIES) throw malformed(`more than ${MAX_CATALOG_ENTRIES} entries`)
  const groups = new Map<number, { type: CatalogKind, count: number }>()
  let nextGroup = 1
  const paths = sorted ?? [...catalog.entries.keys()].sort(compare)
  const safeNames = new Set<string>()
  let safeDir = ''
  for (let i = 0; i < paths.length; i++) {
    const path = paths[i]
    const why = catalogPathProblem(path, safeNames, safeDir)
    if (why !== null) throw malformed(`path ${JSON.stringify(path)} ${why}`)
    safeDir = path.slice(0, path.lastIndexOf('/'))
    const e = values?.[i] ?? catalog.entries.get(path)!
    checkEntry(path, e, catalog.rootfs)
    if (catalog.rootfs && path !== '/') {
      const parent = catalog.entries.get(parentOf(path))
      if (parent === undefined || parent.type !== 'dir') throw malformed(`entry ${JSON.stringify(path)} has no parent directory in the catalog`)
    }
    if (e.link !== undefined) {
      const g = groups.get(e.link)
      if (g === undefined) {
        if (e.link !== nextGroup) throw malformed(`hard-link group ${e.link} of ${JSON.stringify(path)} is out of order (expected ${nextGroup})`)
        nextGroup++
        groups.set(e.link, { type: e.type, count: 1 })
      } else {
        if (g.type !== e.type) throw malformed(`hard-link group ${e.link} mixes ${g.type} and ${e.type}`)
        g.count++
      }
    }
  }
  if (catalog.rootfs) {
    const root = catalog.entries.get('/')
    if (root === undefined || root.type !== 'dir') throw malformed('a rootfs catalog must list "/" as a directory')
  } else if (catalog.entries.has('/')) {
    throw malformed('a sizes catalog does not list "/"')
  }
  for (const [id, g] of groups) {
    if (g.count < 2) throw malformed(`hard-link group ${id} has one path only`)
  }
  if (catalog.prefetch !== undefined) {
    const list = catalog.prefetch
    if (!Array.isArray(list)) throw malformed('prefetch must be a list of paths')
    if (list.length === 0) throw malformed('an empty prefetch list is written as no prefetch list')
    if (list.length > MAX_PREFETCH_PATHS) throw malformed(`prefetch lists more than ${MAX_PREFETCH_PATHS} paths`)
    const seen = new Set<string>()
    for (const path of list) {
      if (typeof path !== 'string' || catalog.entries.get(path)?.type !== 'file') throw malformed(`prefetch path ${JSON.stringify(path)} is not a file of the catalog`)
      if (seen.has(path)) throw malformed(`prefetch lists ${JSON.stringify(path)} twice`)
      seen.add(path)
    }
  }
  if (catalog.chunks !== undefined) validateChunks(catalog.chunks)
  return paths
}

function validateChunks (chunks: ChunkHashes): void {
  const b = chunks.bytes
  if (typeof b !== 'number' || !Number.isSafeInteger(b) || b < MIN_CHUNK_BYTES || b > MAX_CHUNK_BYTES || (b & (b - 1)) !== 0) {
    throw malformed(`chunkBytes must be a power of two in ${MIN_CHUNK_BYTES}..${MAX_CHUNK_BYTES}`)
  }
  if (!(chunks.hashes instanceof Map)) throw malformed('chunks must be a Map')
  if (chunks.hashes.size === 0) throw malformed('empty chunks are written as no chunks')
  if (chunks.hashes.size > MAX_CATALOG_ENTRIES) throw malformed(`chunks for more than ${MAX_CATALOG_ENTRIES} blobs`)
  for (const [id, hex] of chunks.hashes) {
    if (typeof id !== 'string' || !HEX40.test(id)) throw malformed(`chunks key ${JSON.stringify(id)} is not a blob id`)
    if (typeof hex !== 'string' || hex.length === 0 || hex.length % 64 !== 0 || hex.length > MAX_CHUNKS_PER_BLOB * 64 || !HEX.test(hex)) {
      throw malformed(`chunks of ${id} must be 1..${MAX_CHUNKS_PER_BLOB} lowercase hex SHA-256s`)
    }
  }
}

/** Renumbers hard-link groups into the canonical order (1, 2, ... by first path). */
export function canonicalLinkGroups (entries: Map<string, CatalogEntry>): void {
  const renumber = new Map<number, number>()
  for (const path of [...entries.keys()].sort(compare)) {
    const e = entries.get(path)!
    if (e.link === undefined) continue
    let id = renumber.get(e.link)
    if (id === undefined) {
      id = renumber.size + 1
      renumber.set(e.link, id)
    }
    e.link = id
  }
}

/** `"key":` of each entry key, in encoding order */
const KEY_PREFIXES = ENTRY_KEYS.map(k => `${JSON.stringify(k)}:`)
/** each kind as a JSON string */
const QUOTED_KINDS = new Map([...KINDS].map(k => [k, JSON.stringify(k)]))

/**
 * Where the canonical encoding goes, piece by piece: `raw` takes text as is,
 * `json` a string to be written as a JSON string. Encoding collects the
 * pieces; decoding compares each at its place in the text it was given, so a
 * 50,000-entry catalog is checked without building its text again (that
 * string and its ~100,000 pieces were most of a decode's garbage).
 */
interface Sink {
  raw: (piece: string) => void
  json: (value: string) => void
}

/** What JSON.stringify escapes in a string (lone surrogates are refused before). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/

/** A sink that checks `text` against the pieces; `end()` says whether all of it matched. */
function matcher (text: string): Sink & { end: () => boolean } {
  let pos = 0
  let ok = true
  const raw = (piece: string): void => {
    if (ok && text.startsWith(piece, pos)) pos += piece.length
    else ok = false
  }
  return {
    raw,
    json: (value: string): void => {
      if (NEEDS_ESCAPE.test(value)) { raw(JSON.stringify(value)); return }
      if (ok && text.charCodeAt(pos) === 34 && text.startsWith(value, pos + 1) && text.charCodeAt(pos + 1 + value.length) === 34) pos += value.length + 2
      else ok = false
    },
    end: () => ok && pos === text.length
  }
}

/** One validated entry (numbers are safe integers, `type` one of KINDS). */
function encodeEntry (e: CatalogEntry, out: Sink): void {
  out.raw('{')
  let first = true
  for (let i = 0; i < ENTRY_KEYS.length; i++) {
    const key = ENTRY_KEYS[i]
    const v = e[key]
    if (v === undefined) continue
    if (!first) out.raw(',')
    out.raw(KEY_PREFIXES[i])
    first = false
    if (key === 'xattrs') {
      const x = v as Record<string, string>
      out.raw('{' + Object.keys(x).sort(compare).map(n => `${JSON.stringify(n)}:${JSON.stringify(x[n])}`).join(',') + '}')
    } else if (key === 'rdev') {
      const [major, minor] = v as [number, number]
      out.raw(`[${major},${minor}]`)
    } else if (key === 'type') {
      out.raw(QUOTED_KINDS.get(v as string)!)
    } else {
      out.raw(String(v))
    }
  }
  out.raw('}')
}

/** The canonical bytes of a catalog (validated first; EMALFORMED). */
export function encodeCatalog (catalog: Catalog): Uint8Array {
  const out: string[] = []
  canonical(catalog, { raw: piece => { out.push(piece) }, json: value => { out.push(JSON.stringify(value)) } })
  const bytes = utf8.encode(out.join(''))
  if (bytes.byteLength > MAX_CATALOG_BYTES) {
    throw new ProtocolError('ETOOLARGE', `catalog is ${bytes.byteLength} bytes, over the ${MAX_CATALOG_BYTES}-byte cap`)
  }
  return bytes
}

/** The canonical encoding, into `out` (validated first; EMALFORMED). */
function canonical (catalog: Catalog, out: Sink): void {
  const paths = checkCatalog(catalog)
  out.raw('{')
  if (catalog.chunks !== undefined) {
    const h = catalog.chunks.hashes
    out.raw(`"chunkBytes":${catalog.chunks.bytes},"chunks":{`)
    out.raw([...h.keys()].sort(compare).map(id => `"${id}":"${h.get(id)!}"`).join(','))
    out.raw('},')
  }
  out.raw('"entries":{')
  for (let i = 0; i < paths.length; i++) {
    if (i > 0) out.raw(',')
    out.json(paths[i])
    out.raw(':')
    encodeEntry(catalog.entries.get(paths[i])!, out)
  }
  out.raw(`},"format":${JSON.stringify(CATALOG_FORMAT)}`)
  if (catalog.prefetch !== undefined) {
    out.raw(',"prefetch":[')
    catalog.prefetch.forEach((p, i) => { if (i > 0) out.raw(','); out.json(p) })
    out.raw(']')
  }
  out.raw(`,"rootfs":${catalog.rootfs ? 'true' : 'false'},"tree":${JSON.stringify(catalog.tree)},"version":${CATALOG_VERSION}}`)
}

/**
 * Decodes catalog bytes: size cap first (ETOOLARGE, nothing decoded), then
 * strict UTF-8, JSON, field checks and the canonical re-encoding (EMALFORMED).
 * Canonical text in the fast grammar is read in one pass (catalog-scan.ts)
 * and gets the same checks; anything else takes the general path, which also
 * words the errors.
 */
export function decodeCatalog (bytes: Uint8Array, opts: { maxBytes?: number, /** the general path only (a test compares the two) */ general?: boolean } = {}): Catalog {
  const cap = opts.maxBytes ?? MAX_CATALOG_BYTES
  if (!(bytes instanceof Uint8Array)) throw malformed('expected bytes')
  if (bytes.byteLength > cap) throw new ProtocolError('ETOOLARGE', `catalog is ${bytes.byteLength} bytes, over the ${cap}-byte cap`)
  let text: string
  try {
    text = utf8Strict.decode(bytes)
  } catch (err) {
    throw malformed(`not UTF-8 (${(err as Error).message})`)
  }
  const scanned = opts.general === true ? null : scanCatalog(text)
  if (scanned !== null) {
    checkCatalog(scanned.catalog, scanned.paths, scanned.values)
    return scanned.catalog
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw malformed(`not UTF-8 JSON (${(err as Error).message})`)
  }
  const top = object(value, 'catalog')
  for (const key of Object.keys(top)) {
    if (!['chunkBytes', 'chunks', 'entries', 'format', 'prefetch', 'rootfs', 'tree', 'version'].includes(key)) throw malformed(`unknown field "${key}"`)
  }
  if (top.format !== CATALOG_FORMAT) throw malformed(`format must be "${CATALOG_FORMAT}"`)
  if (top.version !== CATALOG_VERSION) throw malformed(`version ${String(top.version)} is not supported (this gtfs reads version ${CATALOG_VERSION})`)
  const entries = new Map<string, CatalogEntry>()
  const listed = object(top.entries, 'entries')
  for (const path in listed) {
    const o = object(listed[path], `entry ${JSON.stringify(path)}`)
    for (const key in o) {
      if (!ENTRY_KEY_SET.has(key)) throw malformed(`${at(path)}: unknown field "${key}"`)
    }
    entries.set(path, o as unknown as CatalogEntry)
  }
  const catalog: Catalog = { tree: top.tree as string, rootfs: top.rootfs as boolean, entries }
  if (top.prefetch !== undefined) catalog.prefetch = top.prefetch as string[]
  if (top.chunks !== undefined || top.chunkBytes !== undefined) {
    if (top.chunks === undefined || top.chunkBytes === undefined) throw malformed('chunkBytes and chunks come together')
    catalog.chunks = { bytes: top.chunkBytes as number, hashes: new Map(Object.entries(object(top.chunks, 'chunks')) as Array<[string, string]>) }
  }
  // The same text is the same bytes: the decoding above was strict UTF-8.
  const check = matcher(text)
  canonical(catalog, check)
  if (!check.end()) {
    throw malformed('not in canonical form (sorted keys, no whitespace, integers only, link groups in order)')
  }
  return catalog
}

function object (value: unknown, what: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw malformed(`${what} must be an object`)
  return value as Record<string, unknown>
}

/** Children of each directory path, as the catalog lists them (names only). */
export function catalogChildren (catalog: Catalog): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const path of [...catalog.entries.keys()].sort(compare)) {
    if (path === '/') continue
    const parent = parentOf(path)
    let list = out.get(parent)
    if (list === undefined) out.set(parent, list = [])
    list.push(path.slice(parent === '/' ? 1 : parent.length + 1))
  }
  return out
}

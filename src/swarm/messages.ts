/**
 * The messages of the `gtfs` BEP10 extension, version 1, and their caps.
 *
 * Every message is one bencoded dict with a type `t`, sent as the payload of a
 * BEP10 extended message (BitTorrent message id 20). Object ids travel as raw
 * 20-byte SHA-1s, repo keys as raw 32-byte SHA-256s; the API uses hex.
 *
 *   hello      {t, v: [versions], keys: [repo key…], mr: max requests, mb: max batch,
 *               or?: 1 when this node publishes the repos it names (requesters ask
 *               other peers first), rg?: 1 when it answers `range`,
 *               zl?: 1 when it takes objects as zlib streams (`object` with zs),
 *               mo?: 1 when it takes `objects`}
 *   state-req  {t, r, key}                         → state chunks or dont-have
 *   state      {t, r, off, total, data}            chunks of one encoded RepoState
 *   want       {t, r, ids: 20·n bytes, depth?, tr?} depth N: for each tree, its
 *                                                  entries down to N levels
 *                                                  (tr=1: subtrees only, no blobs)
 *   range      {t, r, id, off, len}                bytes [off, off+len) of one blob
 *                                                  (only to peers whose hello has rg: 1;
 *                                                  older peers refuse the type)
 *   object     {t, r, id, ty, off, total, data,    one chunk of one object (of a
 *               zs?}                               range: off in blob coordinates).
 *                                                  With zs: the chunks are a zlib
 *                                                  stream of `total` bytes (a pack
 *                                                  entry's data as stored) that
 *                                                  inflates to zs bytes; sent only
 *                                                  to peers whose hello has zl: 1,
 *                                                  never for a range
 *   objects    {t, r, ids: 20·n bytes, ty: n bytes, whole objects of a `want`, several
 *               ln: 4·n bytes, zs: 4·n bytes,      small ones in one message (only to
 *               data}                              peers whose hello has mo: 1): per
 *                                                  object its type (0 blob, 1 tree,
 *                                                  2 commit, 3 tag), its length in
 *                                                  data (uint32 BE, in order) and,
 *                                                  as `object`'s zs, the size its
 *                                                  zlib stream inflates to, or
 *                                                  ffffffff: not a zlib stream. Each
 *                                                  is taken as an `object` message
 *                                                  of one whole chunk. One message
 *                                                  per object cost both sides its
 *                                                  framing, a bencoded dict and a
 *                                                  dispatch (50,000 of them for a
 *                                                  tree of 50,000 small files)
 *   done       {t, r, trunc?}                      the request is answered
 *   dont-have  {t, r, ids}                         ids this peer does not hold
 *   cancel     {t, r}                              stop answering request r
 *
 * Decoding is strict: unknown types, missing or extra-typed fields, and any
 * value outside its cap are refused with ProtocolError EPROTO.
 */
import { ProtocolError } from '../errors.ts'
import type { ObjectId, ObjectType } from '../types.ts'
import { bdecode, bencode, bencodeParts, type BDict, type BInput, type BValue } from './codec.ts'
import { zlibBound } from './zlib-object.ts'

export const PROTOCOL_VERSION = 1
export const EXTENSION_NAME = 'gtfs'

/** bytes of object or state data per message; 64 KiB measured fastest on loopback */
export const CHUNK_BYTES = 64 * 1024
/** bytes of one encoded extension message (a full chunk plus its fields) */
export const MAX_MESSAGE_BYTES = CHUNK_BYTES + 1024
/** bytes of one BitTorrent message after its length prefix: id 20, extension id, payload */
export const MAX_FRAME_BYTES = MAX_MESSAGE_BYTES + 2
/** objects in one `objects` message */
export const MAX_MESSAGE_OBJECTS = 1024
/** bytes an `objects` message spends per object beside its data: id, type, length, inflated size */
export const OBJECTS_ITEM_BYTES = 20 + 1 + 4 + 4
/** `zs` of an object in `objects` that is not a zlib stream */
const NOT_ZLIB = 0xffffffff
/** object ids per `want` */
export const MAX_BATCH = 256
/** ids per `dont-have` message (a longer list is split) */
export const MAX_DONT_HAVE = 1024
/** levels of a tree closure */
export const MAX_DEPTH = 64
/** objects one `want` may be answered with (requested ids plus closure) */
export const MAX_CLOSURE_OBJECTS = 16_384
/** bytes of one object, default; a Peer can be given a lower cap */
export const MAX_OBJECT_BYTES = 512 * 1024 * 1024
/**
 * bytes of one commit, tree or tag. No signed document gives their sizes (a
 * catalog bounds blobs), so without this a lying peer could make a reader
 * buffer 512 MiB for a tree; a tree of 50,000 entries is about 3 MB.
 */
export const MAX_NON_BLOB_BYTES = 64 * 1024 * 1024
/** bytes of one encoded RepoState: catalogs ride in it, and they may be large */
export const MAX_STATE_BYTES = 64 * 1024 * 1024
/** bytes of one `range` request (the catalog's largest chunk size) */
export const MAX_RANGE_BYTES = 64 * 1024 * 1024
/** requests one peer may have open at us */
export const MAX_REQUESTS = 16
/** repo keys in a hello */
export const MAX_KEYS = 64
/** highest request id + 1 */
export const MAX_REQUEST_ID = 2 ** 31

export type RepoKey = string

/** What `state` carries for one repo: opaque to the swarm, judged by trust/. */
export interface RepoState {
  /**
   * One opaque document with everything a reader needs to verify the repo's
   * latest state: policy chain, manifest, their signatures, the signers'
   * public keys and the catalogs (publish/bundle.ts). Judged by trust/, never here.
   */
  bundle: Buffer
}

export interface HelloMessage {
  t: 'hello', versions: number[], keys: RepoKey[], maxRequests: number, maxBatch: number, origin?: boolean,
  /** answers `range` */ ranges?: boolean, /** takes objects as zlib streams */ zlib?: boolean,
  /** takes `objects` */ objects?: boolean
}
export interface StateReqMessage { t: 'state-req', r: number, key: RepoKey }
export interface StateMessage { t: 'state', r: number, off: number, total: number, data: Buffer }
export interface WantMessage { t: 'want', r: number, ids: ObjectId[], depth: number, /** the closure holds trees only */ trees?: boolean }
export interface RangeMessage { t: 'range', r: number, id: ObjectId, off: number, len: number }
export interface ObjectMessage {
  t: 'object', r: number, id: ObjectId, type: ObjectType, off: number, total: number, data: Buffer,
  /** set: `data` is a piece of a zlib stream of `total` bytes that inflates to this many */ zsize?: number
}
/** Whole objects of one `want`, each as the one-chunk `object` message it stands for. */
export interface ObjectsMessage { t: 'objects', r: number, items: ObjectMessage[] }
export interface DoneMessage { t: 'done', r: number, truncated: boolean }
export interface DontHaveMessage { t: 'dont-have', r: number, ids: ObjectId[] }
export interface CancelMessage { t: 'cancel', r: number }

export type Message = HelloMessage | StateReqMessage | StateMessage | WantMessage | RangeMessage | ObjectMessage | ObjectsMessage |
DoneMessage | DontHaveMessage | CancelMessage

const TYPES: readonly ObjectType[] = ['blob', 'tree', 'commit', 'tag']
const REPO_KEY = /^[0-9a-f]{64}$/

export function isRepoKey (s: unknown): s is RepoKey {
  return typeof s === 'string' && REPO_KEY.test(s)
}

function refuse (what: string): never {
  throw new ProtocolError('EPROTO', `gtfs message: ${what}`)
}

function int (d: BDict, k: string, min: number, max: number): number {
  const v = d[k]
  if (typeof v !== 'number') refuse(`${k} is not an integer`)
  if (v < min || v > max) refuse(`${k}=${v} outside ${min}..${max}`)
  return v
}

function optInt (d: BDict, k: string, min: number, max: number, dflt: number): number {
  return d[k] === undefined ? dflt : int(d, k, min, max)
}

function bytes (d: BDict, k: string, maxLen: number): Buffer {
  const v = d[k]
  if (!Buffer.isBuffer(v)) refuse(`${k} is not a byte string`)
  if (v.length > maxLen) refuse(`${k} is ${v.length} bytes, cap ${maxLen}`)
  return v
}

function ids (d: BDict, k: string, max: number): ObjectId[] {
  const v = bytes(d, k, max * 20)
  if (v.length === 0 || v.length % 20 !== 0) refuse(`${k} is not a list of 20-byte ids`)
  const out: ObjectId[] = []
  for (let i = 0; i < v.length; i += 20) out.push(v.toString('hex', i, i + 20))
  return out
}

function id (d: BDict, k: string): ObjectId {
  const v = bytes(d, k, 20)
  if (v.length !== 20) refuse(`${k} is not a 20-byte id`)
  return v.toString('hex')
}

function repoKey (v: BValue | undefined, what: string): RepoKey {
  if (!Buffer.isBuffer(v) || v.length !== 32) refuse(`${what} is not a 32-byte repo key`)
  return v.toString('hex')
}

function chunk (d: BDict, maxTotal: number): { off: number, total: number, data: Buffer } {
  const total = int(d, 'total', 0, maxTotal)
  const off = int(d, 'off', 0, total)
  const data = bytes(d, 'data', CHUNK_BYTES)
  if (off + data.length > total) refuse(`chunk ${off}+${data.length} runs past total ${total}`)
  if (data.length === 0 && total !== 0) refuse('empty chunk')
  return { off, total, data }
}

function hexBytes (hex: string): Buffer { return Buffer.from(hex, 'hex') }

function toBencode (m: Message): BInput {
  switch (m.t) {
    case 'hello':
      return { t: m.t, v: m.versions, keys: m.keys.map(hexBytes), mr: m.maxRequests, mb: m.maxBatch, or: m.origin === true ? 1 : undefined, rg: m.ranges === true ? 1 : undefined, zl: m.zlib === true ? 1 : undefined, mo: m.objects === true ? 1 : undefined }
    case 'state-req':
      return { t: m.t, r: m.r, key: hexBytes(m.key) }
    case 'state':
      return { t: m.t, r: m.r, off: m.off, total: m.total, data: m.data }
    case 'want':
      return { t: m.t, r: m.r, ids: Buffer.concat(m.ids.map(hexBytes)), depth: m.depth === 0 ? undefined : m.depth, tr: m.trees === true ? 1 : undefined }
    case 'range':
      return { t: m.t, r: m.r, id: hexBytes(m.id), off: m.off, len: m.len }
    case 'object':
      return { t: m.t, r: m.r, id: hexBytes(m.id), ty: m.type, off: m.off, total: m.total, data: m.data, zs: m.zsize }
    case 'objects': {
      const n = m.items.length
      const ids = Buffer.allocUnsafe(20 * n)
      const ty = Buffer.allocUnsafe(n)
      const ln = Buffer.allocUnsafe(4 * n)
      const zs = Buffer.allocUnsafe(4 * n)
      m.items.forEach((o, i) => {
        ids.write(o.id, 20 * i, 'hex')
        ty[i] = TYPES.indexOf(o.type)
        ln.writeUInt32BE(o.data.length, 4 * i)
        zs.writeUInt32BE(o.zsize ?? NOT_ZLIB, 4 * i)
      })
      return { t: m.t, r: m.r, ids, ty, ln, zs, data: Buffer.concat(m.items.map(o => o.data)) }
    }
    case 'done':
      return { t: m.t, r: m.r, trunc: m.truncated ? 1 : undefined }
    case 'dont-have':
      return { t: m.t, r: m.r, ids: Buffer.concat(m.ids.map(hexBytes)) }
    case 'cancel':
      return { t: m.t, r: m.r }
  }
}

function checkSize (m: Message, n: number): void {
  if (n > MAX_MESSAGE_BYTES) throw new RangeError(`gtfs message ${m.t} is ${n} bytes, cap ${MAX_MESSAGE_BYTES}`)
}

/** Encodes a message; throws on values the decoder would refuse (a bug of ours, not a peer's). */
export function encodeMessage (m: Message): Buffer {
  const buf = bencode(toBencode(m))
  checkSize(m, buf.length)
  return buf
}

/** The bytes of encodeMessage(m) as a few buffers, a chunk's data left uncopied. */
export function encodeMessageParts (m: Message): Buffer[] {
  const parts = bencodeParts(toBencode(m))
  checkSize(m, parts.reduce((n, p) => n + p.length, 0))
  return parts
}

export interface MessageLimits {
  maxObjectBytes: number
}

/** Decodes one extension payload; every refusal is ProtocolError EPROTO. */
export function decodeMessage (payload: Uint8Array, limits: MessageLimits = { maxObjectBytes: MAX_OBJECT_BYTES }): Message {
  const v = bdecode(payload, { maxBytes: MAX_MESSAGE_BYTES, maxDepth: 2, maxItems: 2 * MAX_KEYS + 32 })
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v) || Array.isArray(v)) refuse('not a dict')
  const d = v
  const tv = d.t
  if (!Buffer.isBuffer(tv) || tv.length > 16) refuse('no type')
  const t = tv.toString('latin1')
  const rid = (): number => int(d, 'r', 0, MAX_REQUEST_ID - 1)
  switch (t) {
    case 'hello': {
      const vs = d.v
      const ks = d.keys
      if (!Array.isArray(vs) || vs.length === 0 || vs.length > 16) refuse('hello: bad version list')
      if (!Array.isArray(ks) || ks.length > MAX_KEYS) refuse('hello: bad key list')
      const versions = vs.map(x => {
        if (typeof x !== 'number' || x < 0 || x > 0xffff) refuse('hello: bad version')
        return x
      })
      return {
        t,
        versions,
        keys: ks.map(k => repoKey(k, 'hello key')),
        maxRequests: int(d, 'mr', 1, 1024),
        maxBatch: int(d, 'mb', 1, 65_536),
        ...(optInt(d, 'or', 1, 1, 0) === 1 ? { origin: true } : {}),
        ...(optInt(d, 'rg', 1, 1, 0) === 1 ? { ranges: true } : {}),
        ...(optInt(d, 'zl', 1, 1, 0) === 1 ? { zlib: true } : {}),
        ...(optInt(d, 'mo', 1, 1, 0) === 1 ? { objects: true } : {})
      }
    }
    case 'state-req':
      return { t, r: rid(), key: repoKey(d.key, 'key') }
    case 'state':
      return { t, r: rid(), ...chunk(d, MAX_STATE_BYTES) }
    case 'want':
      return { t, r: rid(), ids: ids(d, 'ids', MAX_BATCH), depth: optInt(d, 'depth', 1, MAX_DEPTH, 0), ...(optInt(d, 'tr', 1, 1, 0) === 1 ? { trees: true } : {}) }
    case 'range':
      return { t, r: rid(), id: id(d, 'id'), off: int(d, 'off', 0, limits.maxObjectBytes - 1), len: int(d, 'len', 1, MAX_RANGE_BYTES) }
    case 'object': {
      const ty = bytes(d, 'ty', 8).toString('latin1') as ObjectType
      if (!TYPES.includes(ty)) refuse(`object: bad type ${JSON.stringify(ty)}`)
      if (d.zs === undefined) return { t, r: rid(), id: id(d, 'id'), type: ty, ...chunk(d, limits.maxObjectBytes) }
      // a zlib stream: its inflated size under the cap, its own length under zlib's worst case for that size
      const zsize = int(d, 'zs', 0, limits.maxObjectBytes)
      return { t, r: rid(), id: id(d, 'id'), type: ty, ...chunk(d, zlibBound(zsize)), zsize }
    }
    case 'objects': {
      const r = rid()
      return { t, r, items: objectItems(d, r, limits) }
    }
    case 'done':
      return { t, r: rid(), truncated: optInt(d, 'trunc', 0, 1, 0) === 1 }
    case 'dont-have':
      return { t, r: rid(), ids: ids(d, 'ids', MAX_DONT_HAVE) }
    case 'cancel':
      return { t, r: rid() }
    default:
      return refuse(`unknown type ${JSON.stringify(t.slice(0, 16))}`)
  }
}

/** The objects of an `objects` message, each checked as its one-chunk `object` message would be. */
function objectItems (d: BDict, r: number, limits: MessageLimits): ObjectMessage[] {
  const ids = bytes(d, 'ids', 20 * MAX_MESSAGE_OBJECTS)
  const n = ids.length / 20
  if (n === 0 || !Number.isInteger(n)) refuse('objects: ids is not a list of 20-byte ids')
  const ty = bytes(d, 'ty', n)
  const ln = bytes(d, 'ln', 4 * n)
  const zs = bytes(d, 'zs', 4 * n)
  if (ty.length !== n || ln.length !== 4 * n || zs.length !== 4 * n) refuse(`objects: ty, ln and zs do not describe ${n} objects`)
  const data = bytes(d, 'data', CHUNK_BYTES)
  const items: ObjectMessage[] = []
  let off = 0
  for (let i = 0; i < n; i++) {
    const type = TYPES[ty[i]]
    if (type === undefined) refuse(`objects: bad type ${ty[i]}`)
    const len = ln.readUInt32BE(4 * i)
    const z = zs.readUInt32BE(4 * i)
    if (len > data.length - off) refuse(`objects: object ${i} runs past the data`)
    const zsize = z === NOT_ZLIB ? undefined : z
    if (zsize === undefined ? len > limits.maxObjectBytes : zsize > limits.maxObjectBytes || len > zlibBound(zsize)) refuse(`objects: object ${i} outside its caps`)
    const o: ObjectMessage = { t: 'object', r, id: ids.toString('hex', 20 * i, 20 * i + 20), type, off: 0, total: len, data: data.subarray(off, off + len) }
    if (zsize !== undefined) o.zsize = zsize
    items.push(o)
    off += len
  }
  if (off !== data.length) refuse(`objects: ${data.length - off} bytes of data after the last object`)
  return items
}

/** The bytes that `state` messages carry in chunks. */
export function encodeState (s: RepoState): Buffer {
  const buf = bencode({ bundle: s.bundle })
  if (buf.length > MAX_STATE_BYTES) throw new RangeError(`repo state is ${buf.length} bytes, cap ${MAX_STATE_BYTES}`)
  return buf
}

export function decodeState (buf: Uint8Array): RepoState {
  const v = bdecode(buf, { maxBytes: MAX_STATE_BYTES + 64, maxDepth: 1, maxItems: 4 })
  if (typeof v !== 'object' || Buffer.isBuffer(v) || Array.isArray(v)) refuse('state: not a dict')
  const bundle = v.bundle
  if (!Buffer.isBuffer(bundle) || Object.keys(v).length !== 1) refuse('state: want exactly one byte string, bundle')
  return { bundle: Buffer.from(bundle) } // own copy: the input buffer may be large
}

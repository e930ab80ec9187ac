/**
 * Shape checks for incoming DHT queries, run before bittorrent-dht sees them.
 *
 * bittorrent-dht (11.0.x) trusts the types of decoded fields: a `get_peers`
 * whose `info_hash` is an integer makes it call `(5).toString('hex')`, which
 * throws inside the UDP message handler and takes the whole process down
 * (one unauthenticated packet). The same holds for `get` targets, non-buffer
 * tokens, and `put` with `sig` but no `k`. It also skips its 1000-byte cap
 * for `v` that is not a byte string. So every query of a kind the library
 * answers is checked here (BEP5 and BEP44 field types and lengths); a query
 * that fails is dropped without an answer, as the library does for others.
 */

const ID_BYTES = 20
/** BEP44: the bencoded v must be under 1000 bytes */
export const MAX_VALUE_BYTES = 1000
const MAX_DEPTH = 16

function isBytes (x: unknown, len?: number): x is Uint8Array {
  return x instanceof Uint8Array && (len === undefined || x.byteLength === len)
}

function isInt (x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x)
}

function field (a: object, name: string): unknown {
  return Object.hasOwn(a, name) ? (a as Record<string, unknown>)[name] : undefined
}

/** Length of the bencoding of a decoded value; Infinity for anything bencode cannot hold. */
export function bencodedLength (x: unknown, depth = 0): number {
  if (depth > MAX_DEPTH) return Infinity
  if (x instanceof Uint8Array) return String(x.byteLength).length + 1 + x.byteLength
  if (typeof x === 'string') { const n = Buffer.byteLength(x); return String(n).length + 1 + n }
  if (typeof x === 'number') return Number.isFinite(x) ? String(Math.trunc(x)).length + 2 : Infinity
  if (Array.isArray(x)) {
    let n = 2
    for (const item of x) { n += bencodedLength(item, depth + 1); if (n > MAX_VALUE_BYTES) return n }
    return n
  }
  if (x !== null && typeof x === 'object') {
    let n = 2
    for (const [k, v] of Object.entries(x)) { n += bencodedLength(k) + bencodedLength(v, depth + 1); if (n > MAX_VALUE_BYTES) return n }
    return n
  }
  return Infinity
}

/** Why the query must be dropped, or null when the library may handle it. */
export function malformedQuery (query: unknown): string | null {
  if (query === null || typeof query !== 'object') return 'not a dict'
  const q = field(query, 'q')
  if (!isBytes(q) && typeof q !== 'string') return 'no q'
  const a = field(query, 'a')
  if (a === null || typeof a !== 'object' || Array.isArray(a) || a instanceof Uint8Array) return 'no a dict'
  if (!isBytes(field(a, 'id'), ID_BYTES)) return 'bad id'
  const name = Buffer.from(q).toString()
  switch (name) {
    case 'ping':
      return null
    case 'find_node':
    case 'get':
      return isBytes(field(a, 'target'), ID_BYTES) ? null : 'bad target'
    case 'get_peers':
      return isBytes(field(a, 'info_hash'), ID_BYTES) ? null : 'bad info_hash'
    case 'announce_peer': {
      if (!isBytes(field(a, 'info_hash'), ID_BYTES)) return 'bad info_hash'
      if (!isBytes(field(a, 'token'))) return 'bad token'
      const port = field(a, 'port')
      if (port !== undefined && !isInt(port)) return 'bad port'
      return null
    }
    case 'put': {
      if (!isBytes(field(a, 'token'))) return 'bad token'
      const v = field(a, 'v')
      if (v === undefined) return 'no v'
      if (bencodedLength(v) >= MAX_VALUE_BYTES) return 'v too large'
      const k = field(a, 'k')
      const sig = field(a, 'sig')
      if (k === undefined && sig === undefined) return null // immutable
      if (!isBytes(k, 32)) return 'bad k'
      if (!isBytes(sig, 64)) return 'bad sig'
      const seq = field(a, 'seq')
      if (!isInt(seq) || seq < 0) return 'bad seq'
      const cas = field(a, 'cas')
      if (cas !== undefined && !isInt(cas)) return 'bad cas'
      const salt = field(a, 'salt')
      if (salt !== undefined && !(isBytes(salt) && salt.byteLength <= 64)) return 'bad salt'
      return null
    }
    default:
      return null // the library ignores query kinds it does not know
  }
}

/**
 * Puts `malformedQuery` in front of bittorrent-dht's query dispatch (its
 * internal `_onquery`, looked up per call) and contains anything the library
 * still throws while answering, so a peer can never crash the process.
 */
export function guardQueries (dht: { _onquery: (query: unknown, peer: { address?: string, host?: string, port: number }) => void }, log: (fmt: string, ...args: unknown[]) => void): void {
  const dispatch = dht._onquery.bind(dht)
  dht._onquery = (query, peer) => {
    const why = malformedQuery(query)
    if (why !== null) {
      log('dropped a malformed query from %s:%d: %s', peer?.address ?? peer?.host, peer?.port, why)
      return
    }
    try {
      dispatch(query, peer)
    } catch (err) {
      log('a query from %s:%d made bittorrent-dht throw: %s', peer?.address ?? peer?.host, peer?.port, (err as Error)?.message)
    }
  }
}

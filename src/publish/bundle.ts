/**
 * The file that carries a repo's documents between machines (`gtfs manifest
 * export` / `import`, `gtfs verify <file>`): policy chain, pending policy,
 * latest and pending manifest with all their signatures, earlier manifests
 * (for seq jumps), catalogs, and the public keys of the signers the policies
 * name. JSON, binary fields in base64:
 *
 *   { "format": "gtfs-bundle", "version": 1, "repo": "<repo key>",
 *     "policy": [{ "bytes": b64, "signatures": [b64] }], "pendingPolicy": doc | null,
 *     "manifest": doc | null, "pendingManifest": doc | null,
 *     "history": { "<seq>": b64 }, "catalogs": { "<sha256>": b64 }, "keys": b64 }
 *
 * A bundle carries no trust: every document in it is verified as if it came
 * from a stranger. Decoding checks every size against its cap from the
 * base64 length, before decoding or parsing it (ETOOLARGE), and every
 * catalog against its hash (ECATALOG).
 */
import { ProtocolError } from '../errors.ts'
import {
  malformed, MAX_CATALOG_BYTES, MAX_KEY_BYTES, MAX_MANIFEST_BYTES, MAX_POLICY_BYTES, MAX_SIGNATURE_BYTES, MAX_SIGNATURE_PACKETS,
  tooLarge, verifyCatalog, type SignedDocument
} from '../trust/index.ts'
import { SHA256_HEX_PATTERN } from './patterns.ts'

export const BUNDLE_FORMAT = 'gtfs-bundle'
export const BUNDLE_VERSION = 1
/** bytes; a bundle holds a few catalogs (each up to 64 MiB) in base64 */
export const MAX_BUNDLE_BYTES = 512 * 2 ** 20
/** policy versions and manifests in one bundle */
const MAX_DOCS = 100_000

export interface Bundle {
  repo: string
  policy: SignedDocument[]
  pendingPolicy: SignedDocument | null
  manifest: SignedDocument | null
  pendingManifest: SignedDocument | null
  history: Map<number, Uint8Array>
  catalogs: Map<string, Uint8Array>
  /** binary public keys (trust/keys.ts writeKeyBundle) */
  keys: Uint8Array
}

const b64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')

export function encodeBundle (b: Bundle): Uint8Array {
  const doc = (d: SignedDocument | null): unknown => d === null ? null : { bytes: b64(d.bytes), signatures: d.signatures.map(b64) }
  return Buffer.from(JSON.stringify({
    format: BUNDLE_FORMAT,
    version: BUNDLE_VERSION,
    repo: b.repo,
    policy: b.policy.map(doc),
    pendingPolicy: doc(b.pendingPolicy),
    manifest: doc(b.manifest),
    pendingManifest: doc(b.pendingManifest),
    history: Object.fromEntries([...b.history].sort((x, y) => x[0] - y[0]).map(([seq, bytes]) => [String(seq), b64(bytes)])),
    catalogs: Object.fromEntries([...b.catalogs].map(([h, bytes]) => [h, b64(bytes)])),
    keys: b64(b.keys)
  }) + '\n')
}

/**
 * Base64 → bytes, refusing (ETOOLARGE) before decoding anything that would
 * exceed `cap`. Strict without a pattern over the text: node's decoder skips
 * what is not base64 and stops at a "=" inside, so such text decodes to fewer
 * bytes than its length promises; only base64url's "-" and "_", which it
 * takes, are looked for. A regular expression over a peer's state (the
 * catalogs, 4 MB of base64 for the bench's 50,000 paths) cost a mount 11-16 ms
 * before its first byte.
 */
function unb64 (v: unknown, cap: number, what: string): Uint8Array {
  const bad = (): Error => malformed('bundle', `${what} is not base64`)
  if (typeof v !== 'string' || v.length % 4 !== 0) throw bad()
  const size = v.length / 4 * 3 - (v.endsWith('==') ? 2 : v.endsWith('=') ? 1 : 0)
  if (size > cap) throw tooLarge(what, size, cap)
  if (v.includes('-') || v.includes('_')) throw bad()
  const bytes = Buffer.from(v, 'base64')
  if (bytes.length !== size) throw bad()
  return bytes
}

export function decodeBundle (bytes: Uint8Array): Bundle {
  if (bytes.byteLength > MAX_BUNDLE_BYTES) throw tooLarge('bundle', bytes.byteLength, MAX_BUNDLE_BYTES)
  let o: Record<string, unknown>
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>
  } catch (err) {
    throw malformed('bundle', `not UTF-8 JSON (${(err as Error).message})`)
  }
  if (o === null || typeof o !== 'object' || o.format !== BUNDLE_FORMAT) throw malformed('bundle', `not a ${BUNDLE_FORMAT} file`)
  if (o.version !== BUNDLE_VERSION) throw malformed('bundle', `version ${String(o.version)} is not supported (this gtfs reads version ${BUNDLE_VERSION})`)
  if (typeof o.repo !== 'string' || !SHA256_HEX_PATTERN.test(o.repo)) throw malformed('bundle', 'repo must be a repo key')
  const doc = (v: unknown, cap: number, what: string): SignedDocument | null => {
    if (v === null) return null
    const d = v as { bytes?: unknown, signatures?: unknown }
    if (typeof d !== 'object' || !Array.isArray(d.signatures)) throw malformed('bundle', `${what} must be { bytes, signatures }`)
    if (d.signatures.length > MAX_SIGNATURE_PACKETS) throw new ProtocolError('ETOOLARGE', `${what} carries ${d.signatures.length} signatures, over the cap of ${MAX_SIGNATURE_PACKETS}`)
    return { bytes: unb64(d.bytes, cap, what), signatures: d.signatures.map((s, i) => unb64(s, MAX_SIGNATURE_BYTES, `signature ${i} of ${what}`)) }
  }
  if (!Array.isArray(o.policy) || o.policy.length > MAX_DOCS) throw malformed('bundle', 'policy must be a list')
  const map = (v: unknown, what: string): Array<[string, unknown]> => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw malformed('bundle', `${what} must be an object`)
    const entries = Object.entries(v)
    if (entries.length > MAX_DOCS) throw malformed('bundle', `${what} has too many entries`)
    return entries
  }
  const history = new Map<number, Uint8Array>()
  for (const [seq, v] of map(o.history, 'history')) {
    if (!/^[1-9][0-9]{0,15}$/.test(seq)) throw malformed('bundle', `history has a bad seq ${seq}`)
    history.set(Number(seq), unb64(v, MAX_MANIFEST_BYTES, `manifest seq ${seq}`))
  }
  const catalogs = new Map<string, Uint8Array>()
  for (const [hash, v] of map(o.catalogs, 'catalogs')) {
    if (!SHA256_HEX_PATTERN.test(hash)) throw malformed('bundle', `catalog key ${hash} is not a SHA-256 hash`)
    const data = unb64(v, MAX_CATALOG_BYTES, `catalog ${hash}`)
    verifyCatalog(data, hash)
    catalogs.set(hash, data)
  }
  return {
    repo: o.repo,
    policy: o.policy.map((d, i) => {
      const link = doc(d, MAX_POLICY_BYTES, `policy version ${i + 1}`)
      if (link === null) throw malformed('bundle', `policy version ${i + 1} is null`)
      return link
    }),
    pendingPolicy: doc(o.pendingPolicy, MAX_POLICY_BYTES, 'pending policy'),
    manifest: doc(o.manifest, MAX_MANIFEST_BYTES, 'manifest'),
    pendingManifest: doc(o.pendingManifest, MAX_MANIFEST_BYTES, 'pending manifest'),
    history,
    catalogs,
    keys: unb64(o.keys, MAX_KEY_BYTES, 'key bundle')
  }
}

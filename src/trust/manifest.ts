/**
 * The manifest: the signed statement "these refs point at these commits".
 * Pure model — build, encode, parse, validate; the acceptance rules are in
 * verify-manifest.ts.
 *
 *   {
 *     repo:          "<repo key>"
 *     policyVersion: N, policyHash: "<sha256 hex of policy N>"
 *     seq:           1, 2, ...        strictly increasing per repo
 *     prev:          "<sha256 hex of manifest seq-1>" | null (null iff seq = 1)
 *     created:       <unix seconds>, expires: <unix seconds, > created>
 *     refs:          { "refs/heads/main": { commit: "<40 hex>", catalog: "<64 hex>" | null } }
 *     defaultRef:    "refs/heads/main"   (one of refs)
 *   }
 *
 * The manifest hash is the SHA-256 hex of its canonical bytes; a catalog hash
 * is the SHA-256 hex of the catalog's bytes (catalog-check.ts).
 */
import type { PrivateKey } from 'openpgp'
import { canonicalBytes, parseCanonical, type JsonValue } from './canonical-json.ts'
import { SHA1_HEX, SHA256_HEX, sha256Hex } from './digest.ts'
import { Fields } from './fields.ts'
import { MAX_MANIFEST_BYTES } from './limits.ts'
import { nowSeconds, type SignedDocument } from './policy.ts'
import type { VerifiedPolicy } from './policy-chain.ts'
import { isValidRefName } from './ref-rules.ts'
import { signAll } from './signatures.ts'

export interface RefEntry {
  /** git commit id, 40 lowercase hex */
  commit: string
  /** SHA-256 hex of the commit's catalog, or null when none is published */
  catalog: string | null
}

export interface Manifest {
  repo: string
  policyVersion: number
  policyHash: string
  seq: number
  prev: string | null
  created: number
  expires: number
  refs: Record<string, RefEntry>
  defaultRef: string
}

/** Canonical bytes of a manifest, validated first (EMALFORMED). */
export function manifestBytes (manifest: Manifest): Uint8Array {
  const bytes = canonicalBytes(manifest, 'manifest')
  validateManifest(JSON.parse(new TextDecoder().decode(bytes)) as JsonValue)
  return bytes
}

/** SHA-256 hex of manifest bytes: what `prev`, the state and the DHT pointer name. */
export function manifestHash (bytes: Uint8Array): string {
  return sha256Hex(bytes)
}

/** Parses manifest bytes: size cap (ETOOLARGE) before anything, then strict validation. */
export function parseManifest (bytes: Uint8Array): Manifest {
  return validateManifest(parseCanonical(bytes, MAX_MANIFEST_BYTES, 'manifest'))
}

export function validateManifest (value: JsonValue): Manifest {
  const f = new Fields('manifest')
  const top = f.object(value, 'manifest',
    ['repo', 'policyVersion', 'policyHash', 'seq', 'prev', 'created', 'expires', 'refs', 'defaultRef'])
  const seq = f.int(top.seq, 'seq', 1)
  let prev: string | null = null
  if (seq === 1) {
    if (top.prev !== null) throw f.fail('prev', 'must be null when seq is 1')
  } else {
    prev = f.string(top.prev, 'prev', SHA256_HEX, 'a SHA-256 hex hash (seq > 1)')
  }
  const created = f.int(top.created, 'created', 0)
  const expires = f.int(top.expires, 'expires', created + 1)
  const refs: Record<string, RefEntry> = {}
  const rawRefs = f.map(top.refs, 'refs')
  for (const [name, raw] of Object.entries(rawRefs)) {
    if (!isValidRefName(name)) throw f.fail('refs', `holds an invalid ref name ${JSON.stringify(name)}`)
    const path = `refs[${JSON.stringify(name)}]`
    const e = f.object(raw, path, ['commit', 'catalog'])
    refs[name] = {
      commit: f.string(e.commit, `${path}.commit`, SHA1_HEX, '40 lowercase hex digits'),
      catalog: e.catalog === null ? null : f.string(e.catalog, `${path}.catalog`, SHA256_HEX, 'a SHA-256 hex hash or null')
    }
  }
  const defaultRef = top.defaultRef
  if (typeof defaultRef !== 'string' || !Object.hasOwn(refs, defaultRef)) throw f.fail('defaultRef', 'must name one of refs')
  return {
    repo: f.string(top.repo, 'repo', SHA256_HEX, 'a repo key (64 lowercase hex digits)'),
    policyVersion: f.int(top.policyVersion, 'policyVersion', 1),
    policyHash: f.string(top.policyHash, 'policyHash', SHA256_HEX, 'a SHA-256 hex hash'),
    seq,
    prev,
    created,
    expires,
    refs,
    defaultRef
  }
}

export interface MakeManifestOptions {
  policy: VerifiedPolicy
  seq: number
  /** hash of manifest seq-1; null (or absent) for seq 1 */
  prev?: string | null
  refs: Record<string, RefEntry>
  /** defaults to refs/heads/main if present, else the first ref in sorted order */
  defaultRef?: string
  /** unix seconds; defaults to now */
  created?: number
  /** seconds the manifest stays valid; default 7 days. A reader refuses it after that. */
  ttlSeconds?: number
}

/** A manifest for `policy`; validated. */
export function makeManifest (opts: MakeManifestOptions): Manifest {
  const created = opts.created ?? nowSeconds()
  const names = Object.keys(opts.refs).sort()
  const manifest: Manifest = {
    repo: opts.policy.repo,
    policyVersion: opts.policy.version,
    policyHash: opts.policy.hash,
    seq: opts.seq,
    prev: opts.prev ?? null,
    created,
    expires: created + (opts.ttlSeconds ?? 7 * 24 * 3600),
    refs: opts.refs,
    defaultRef: opts.defaultRef ?? (names.includes('refs/heads/main') ? 'refs/heads/main' : names[0] ?? '')
  }
  manifestBytes(manifest)
  return manifest
}

/** Canonical bytes plus one detached signature per key. */
export async function signManifest (manifest: Manifest, keys: PrivateKey[], opts: { date?: Date } = {}): Promise<SignedDocument> {
  const bytes = manifestBytes(manifest)
  return { bytes, signatures: await signAll(bytes, keys, opts) }
}

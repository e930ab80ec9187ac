/**
 * The policy document: who may sign what. Pure model — build, encode, parse,
 * validate; chain verification is in policy-chain.ts.
 *
 *   {
 *     version: 1, 2, ...           genesis is 1
 *     repo:    "<repo key>"        absent in genesis, required after
 *     prev:    "<sha256 hex>"      hash of version N-1's bytes; absent in genesis
 *     roots:   { signers: [FPR], threshold: m }   who signs policy updates
 *     rules:   [{ pattern, signers, threshold, allowRewrite? }]   see ref-rules.ts
 *     pointerKey: "<64 hex>"       ed25519 public key naming the DHT pointer
 *     created: <unix seconds>
 *   }
 *
 * The REPO KEY is the lowercase hex SHA-256 of the genesis policy's canonical
 * bytes. It names the repo forever (the genesis can never change), survives
 * key rotation (later versions are reached by `prev` links signed by old and
 * new roots), and is self-certifying: whoever holds the genesis bytes can check
 * them against the key with one hash. SHA-256 rather than git's SHA-1 because
 * the key must resist collisions, and hex because it goes in URLs and paths.
 */
import type { PrivateKey } from 'openpgp'
import { canonicalBytes, parseCanonical, type JsonValue } from './canonical-json.ts'
import { malformed } from './codes.ts'
import { SHA256_HEX, sha256Hex } from './digest.ts'
import { Fields } from './fields.ts'
import { FINGERPRINT } from './keys.ts'
import { MAX_POLICY_BYTES } from './limits.ts'
import { isValidPattern, type RefRule, type SignerSet } from './ref-rules.ts'
import { signAll } from './signatures.ts'

export const GENESIS_VERSION = 1
/** signers in one list */
const MAX_SIGNERS = 256
/** rules in one policy */
const MAX_RULES = 1024

export interface Policy {
  version: number
  /** repo key; absent in the genesis policy */
  repo?: string
  /** SHA-256 hex of the previous version's canonical bytes; absent in genesis */
  prev?: string
  roots: SignerSet
  rules: RefRule[]
  /** hex ed25519 public key (32 bytes) that names the DHT pointer */
  pointerKey: string
  /** unix seconds */
  created: number
}

/** A signed document as it travels: canonical bytes and detached signatures. */
export interface SignedDocument {
  bytes: Uint8Array
  signatures: Uint8Array[]
}

const ED25519_PUBLIC_HEX = /^[0-9a-f]{64}$/

/** Canonical bytes of a policy, validated first (EMALFORMED). */
export function policyBytes (policy: Policy): Uint8Array {
  const bytes = canonicalBytes(policy, 'policy')
  validatePolicy(JSON.parse(new TextDecoder().decode(bytes)) as JsonValue)
  return bytes
}

/** Parses policy bytes: size cap (ETOOLARGE) before anything, then strict validation. */
export function parsePolicy (bytes: Uint8Array): Policy {
  return validatePolicy(parseCanonical(bytes, MAX_POLICY_BYTES, 'policy'))
}

/** Repo key of a genesis policy: SHA-256 hex of its canonical bytes. */
export function repoKeyOf (genesisBytes: Uint8Array): string {
  const policy = parsePolicy(genesisBytes)
  if (policy.version !== GENESIS_VERSION) throw malformed('policy', 'a repo key is the hash of a genesis (version 1) policy')
  return sha256Hex(genesisBytes)
}

export function validatePolicy (value: JsonValue): Policy {
  const f = new Fields('policy')
  const top = f.object(value, 'policy', ['version', 'roots', 'rules', 'pointerKey', 'created'], ['repo', 'prev'])
  const version = f.int(top.version, 'version', GENESIS_VERSION)
  const policy: Policy = {
    version,
    roots: parseSignerSet(f, top.roots, 'roots'),
    rules: [],
    pointerKey: f.string(top.pointerKey, 'pointerKey', ED25519_PUBLIC_HEX, '64 lowercase hex digits (an ed25519 public key)'),
    created: f.int(top.created, 'created', 0)
  }
  if (version === GENESIS_VERSION) {
    if (top.repo !== undefined || top.prev !== undefined) throw f.fail('genesis policy', 'must not carry "repo" or "prev"')
  } else {
    policy.repo = f.string(top.repo, 'repo', SHA256_HEX, 'a repo key (64 lowercase hex digits)')
    policy.prev = f.string(top.prev, 'prev', SHA256_HEX, 'a SHA-256 hex hash')
  }
  const patterns = new Set<string>()
  f.array(top.rules, 'rules', MAX_RULES).forEach((raw, i) => {
    const path = `rules[${i}]`
    const r = f.object(raw, path, ['pattern', 'signers', 'threshold'], ['allowRewrite'])
    const pattern = r.pattern
    if (typeof pattern !== 'string' || !isValidPattern(pattern)) throw f.fail(`${path}.pattern`, 'must be a ref name or a ref prefix followed by "/*"')
    if (patterns.has(pattern)) throw f.fail(`${path}.pattern`, `"${pattern}" appears twice`)
    patterns.add(pattern)
    const set = parseSignerSet(f, { signers: r.signers, threshold: r.threshold }, path)
    const rule: RefRule = { pattern, ...set }
    if (r.allowRewrite !== undefined) rule.allowRewrite = f.bool(r.allowRewrite, `${path}.allowRewrite`)
    policy.rules.push(rule)
  })
  return policy
}

/** { signers: unique full uppercase fingerprints, threshold: 1..n } */
export function parseSignerSet (f: Fields, value: JsonValue | undefined, path: string): SignerSet {
  const o = f.object(value, path, ['signers', 'threshold'])
  const signers = f.array(o.signers, `${path}.signers`, MAX_SIGNERS).map((s, i) =>
    f.string(s, `${path}.signers[${i}]`, FINGERPRINT, 'a full uppercase fingerprint'))
  if (signers.length === 0) throw f.fail(`${path}.signers`, 'must not be empty')
  if (new Set(signers).size !== signers.length) throw f.fail(`${path}.signers`, 'names a signer twice')
  const threshold = f.int(o.threshold, `${path}.threshold`, 1, signers.length)
  return { signers, threshold }
}

export interface GenesisOptions {
  roots: SignerSet
  rules?: RefRule[]
  pointerKey: string
  /** unix seconds; defaults to now */
  created?: number
}

/** A genesis (version 1) policy; validated. Its bytes' hash is the repo key. */
export function makeGenesisPolicy (opts: GenesisOptions): Policy {
  const policy: Policy = {
    version: GENESIS_VERSION,
    roots: opts.roots,
    rules: opts.rules ?? [],
    pointerKey: opts.pointerKey,
    created: opts.created ?? nowSeconds()
  }
  policyBytes(policy)
  return policy
}

export interface NextPolicyOptions {
  roots?: SignerSet
  rules?: RefRule[]
  pointerKey?: string
  created?: number
}

/**
 * Version N+1 after the policy whose canonical bytes are `prevBytes`: same
 * repo, `prev` = hash of those bytes, fields not given are carried over. It
 * must then be signed by a threshold of the old roots AND of the new roots.
 */
export function makeNextPolicy (prevBytes: Uint8Array, changes: NextPolicyOptions = {}): Policy {
  const prev = parsePolicy(prevBytes)
  const policy: Policy = {
    version: prev.version + 1,
    repo: prev.version === GENESIS_VERSION ? sha256Hex(prevBytes) : prev.repo,
    prev: sha256Hex(prevBytes),
    roots: changes.roots ?? prev.roots,
    rules: changes.rules ?? prev.rules,
    pointerKey: changes.pointerKey ?? prev.pointerKey,
    created: changes.created ?? Math.max(nowSeconds(), prev.created)
  }
  policyBytes(policy)
  return policy
}

/** Canonical bytes plus one detached signature per key. */
export async function signPolicy (policy: Policy, keys: PrivateKey[], opts: { date?: Date } = {}): Promise<SignedDocument> {
  const bytes = policyBytes(policy)
  return { bytes, signatures: await signAll(bytes, keys, opts) }
}

export function nowSeconds (date: Date = new Date()): number {
  return Math.floor(date.getTime() / 1000)
}

/**
 * Checks the clock inputs of a verification: an invalid Date would make every
 * time comparison false, i.e. silently skip the EFUTURE and EEXPIRED checks.
 */
export function checkClock (now: Date, skewSeconds: number): void {
  if (!(now instanceof Date) || !Number.isFinite(now.getTime())) throw malformed('verification time', 'must be a valid Date')
  if (!Number.isSafeInteger(skewSeconds) || skewSeconds < 0) throw malformed('maxSkewSeconds', 'must be a non-negative integer')
}

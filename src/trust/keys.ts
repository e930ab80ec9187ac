/**
 * OpenPGP keys as signers: generate, read (armored or binary, public or
 * secret), check strength, describe. No I/O here; keyring.ts stores keys.
 *
 * A signer is named by the full fingerprint of its PRIMARY key, uppercase hex
 * (40 characters for v4 keys, 64 for v6). Key ids (16 hex) are never used to
 * name a signer: they collide cheaply.
 */
import type { AlgorithmInfo, Key, PartialConfig, PrivateKey, PublicKey, UserID } from 'openpgp'
import { EKEYALGO, EMALFORMED, EPASSPHRASE, ETOOLARGE, EWEAKKEY, malformed, tooLarge } from './codes.ts'
import { MAX_KEY_BYTES, MAX_KEYS_PER_IMPORT } from './limits.ts'
import { pgp } from './openpgp.ts'
import { ProtocolError, UntrustedError } from '../errors.ts'

export const FINGERPRINT = /^(?:[0-9A-F]{40}|[0-9A-F]{64})$/

/** Smallest RSA modulus accepted to sign, in bits. */
export const MIN_RSA_BITS = 2048

/**
 * openpgp configuration for every verification: RSA below 2048 bits is refused
 * by openpgp itself too (its default is 2047), as a second line behind
 * checkKeyStrength.
 */
export const VERIFY_CONFIG: PartialConfig = { minRSABits: MIN_RSA_BITS }

/** Uppercase, spaces removed; throws EMALFORMED unless it is a full fingerprint. */
export function normalizeFingerprint (input: string): string {
  const fpr = typeof input === 'string' ? input.replace(/\s+/g, '').toUpperCase() : ''
  if (!FINGERPRINT.test(fpr)) throw malformed('fingerprint', `"${String(input)}" is not a full 40- or 64-hex-digit fingerprint`)
  return fpr
}

/** The signer name of a key: its primary key's fingerprint, uppercase. */
export function fingerprintOf (key: Key): string {
  return key.getFingerprint().toUpperCase()
}

export interface GenerateSignerOptions {
  name?: string
  email?: string
  /** encrypts the secret key; the CLI asks for it on a terminal */
  passphrase?: string
  /** seconds after `date` when the key expires; absent = never */
  keyExpirationTime?: number
  /** creation time (tests use it to make keys that expire in the past) */
  date?: Date
}

export interface GeneratedSigner {
  fingerprint: string
  privateKey: PrivateKey
  publicKey: PublicKey
  /** armored revocation certificate; keep it offline */
  revocationCertificate: string
}

/**
 * A new signing key: v4 EdDSA on ed25519 ("ed25519Legacy"), because GnuPG 2.2
 * verifies those and cannot read RFC 9580 v6 ed25519 keys.
 */
export async function generateSigner (opts: GenerateSignerOptions): Promise<GeneratedSigner> {
  const openpgp = await pgp()
  const userID: UserID = {}
  if (opts.name !== undefined) userID.name = opts.name
  if (opts.email !== undefined) userID.email = opts.email
  if (userID.name === undefined && userID.email === undefined) throw malformed('user ID', 'a new key needs a name or an email')
  // openpgp accepts only addresses with a dotted domain; say so instead of "Invalid user ID format".
  if (userID.email !== undefined && !/^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/.test(userID.email)) {
    throw malformed('email', `${JSON.stringify(userID.email)} is not an email address (name@example.org)`)
  }
  if (userID.name !== undefined && /[<>]/.test(userID.name)) throw malformed('name', 'a name cannot contain < or >')
  let pair
  try {
    pair = await openpgp.generateKey({
      type: 'ecc',
      curve: 'ed25519Legacy',
      userIDs: [userID],
      format: 'object',
      ...(opts.passphrase === undefined ? {} : { passphrase: opts.passphrase }),
      ...(opts.keyExpirationTime === undefined ? {} : { keyExpirationTime: opts.keyExpirationTime }),
      ...(opts.date === undefined ? {} : { date: opts.date })
    })
  } catch (err) {
    throw new ProtocolError(EMALFORMED, `cannot generate key: ${(err as Error).message}`, { cause: err })
  }
  return {
    fingerprint: fingerprintOf(pair.publicKey),
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    revocationCertificate: pair.revocationCertificate
  }
}

const ARMOR_START = '-----BEGIN PGP '

/**
 * Reads one or more keys, armored (text or bytes) or binary. Each key is
 * checked with checkKeyStrength. Secret keys come back as PrivateKey
 * (possibly still encrypted); public keys as PublicKey.
 */
export async function readKeys (data: string | Uint8Array): Promise<Key[]> {
  const size = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength
  if (size > MAX_KEY_BYTES) throw tooLarge('key data', size, MAX_KEY_BYTES)
  const armored = typeof data === 'string'
    ? data
    : looksArmored(data) ? new TextDecoder().decode(data) : null
  const openpgp = await pgp()
  let keys: Key[]
  try {
    keys = armored !== null
      ? await openpgp.readKeys({ armoredKeys: armored })
      : await openpgp.readKeys({ binaryKeys: data as Uint8Array })
  } catch (err) {
    throw new ProtocolError(EMALFORMED, `not an OpenPGP key: ${(err as Error).message}`, { cause: err })
  }
  if (keys.length === 0) throw malformed('key data', 'holds no key')
  if (keys.length > MAX_KEYS_PER_IMPORT) throw new ProtocolError(ETOOLARGE, `key data holds ${keys.length} keys, over the cap of ${MAX_KEYS_PER_IMPORT}`)
  for (const key of keys) checkKeyStrength(key)
  return keys
}

function looksArmored (bytes: Uint8Array): boolean {
  // Armor may be preceded by blank lines or comments; look at the first KiB.
  return new TextDecoder().decode(bytes.subarray(0, 1024)).includes(ARMOR_START)
}

const SIGNING_ALGORITHMS = new Set(['eddsaLegacy', 'ed25519', 'ed448', 'rsaEncryptSign', 'rsaSign'])
const WEAK_ALGORITHMS = new Set(['dsa', 'elgamal'])
const RSA = new Set(['rsaEncryptSign', 'rsaSign', 'rsaEncrypt'])
/** algorithms that can only encrypt; they never verify anything, so any strength is tolerated */
const ENCRYPT_ONLY = new Set(['ecdh', 'x25519', 'x448', 'elgamal', 'rsaEncrypt', 'aedh'])

/**
 * Throws EWEAKKEY (RSA < 2048 bits, DSA) or EKEYALGO (ECDSA and others) unless
 * the primary key is EdDSA or RSA ≥ 2048 and every subkey that could sign is too.
 */
export function checkKeyStrength (key: Key): void {
  const fpr = fingerprintOf(key)
  checkPacket(key.getAlgorithmInfo(), `key ${fpr}`, true)
  for (const sub of key.subkeys) {
    checkPacket(sub.getAlgorithmInfo(), `subkey ${sub.getFingerprint().toUpperCase()} of ${fpr}`, false)
  }
}

function checkPacket (info: AlgorithmInfo, name: string, primary: boolean): void {
  const algo = String(info.algorithm)
  if (RSA.has(algo) && (info.bits ?? 0) < MIN_RSA_BITS) {
    if (!primary && algo === 'rsaEncrypt') return
    throw new UntrustedError(EWEAKKEY, `${name} is RSA ${info.bits ?? '?'} bits; at least ${MIN_RSA_BITS} are required`)
  }
  if (!primary && ENCRYPT_ONLY.has(algo)) return
  if (WEAK_ALGORITHMS.has(algo)) throw new UntrustedError(EWEAKKEY, `${name} uses ${algo}, which is too weak to sign`)
  if (!SIGNING_ALGORITHMS.has(algo)) throw new UntrustedError(EKEYALGO, `${name} uses ${algo}${info.curve === undefined ? '' : ` (${info.curve})`}; gtfs accepts EdDSA and RSA signers only`)
}

/** Decrypts a passphrase-protected secret key; EPASSPHRASE when missing or wrong. */
export async function unlockPrivateKey (key: PrivateKey, passphrase?: string): Promise<PrivateKey> {
  if (key.isDecrypted()) return key
  if (passphrase === undefined) {
    throw new UntrustedError(EPASSPHRASE, `secret key ${fingerprintOf(key)} is protected by a passphrase`, { hint: 'give the passphrase' })
  }
  const openpgp = await pgp()
  try {
    return await openpgp.decryptKey({ privateKey: key, passphrase })
  } catch (err) {
    throw new UntrustedError(EPASSPHRASE, `cannot unlock secret key ${fingerprintOf(key)}: wrong passphrase`, { cause: err })
  }
}

export interface KeyInfo {
  fingerprint: string
  userIDs: string[]
  algorithm: string
  bits?: number
  curve?: string
  created: Date
  /** null = never expires */
  expires: Date | null
  revoked: boolean
  hasSecret: boolean
  /** true when the secret key needs a passphrase */
  secretProtected: boolean
}

/** What `gtfs key list` shows. `date` decides "revoked"; defaults to now. */
export async function describeKey (key: Key, opts: { hasSecret?: boolean, secretProtected?: boolean, date?: Date } = {}): Promise<KeyInfo> {
  const info = key.getAlgorithmInfo()
  const date = opts.date ?? new Date()
  let expires: Date | null = null
  try {
    const t = await key.getExpirationTime()
    if (t instanceof Date) expires = t
  } catch {
    // A key without a valid self-signature has no meaningful expiry; show none.
  }
  return {
    fingerprint: fingerprintOf(key),
    userIDs: key.getUserIDs(),
    algorithm: String(info.algorithm),
    ...(info.bits === undefined ? {} : { bits: info.bits }),
    ...(info.curve === undefined ? {} : { curve: String(info.curve) }),
    created: key.getCreationTime(),
    expires,
    revoked: await key.isRevoked(undefined, undefined, date),
    hasSecret: opts.hasSecret ?? key.isPrivate(),
    secretProtected: opts.secretProtected ?? (key.isPrivate() && !key.isDecrypted())
  }
}

/**
 * Public keys as one binary blob (concatenated transferable public keys), the
 * form in which signer keys can travel next to a policy. They carry no trust:
 * only keys whose fingerprints a verified policy names are ever used.
 */
export function writeKeyBundle (keys: Key[]): Uint8Array {
  return Buffer.concat(keys.map(k => k.toPublic().write()))
}

/** Reads a key bundle (see writeKeyBundle); secret material is dropped. */
export async function readKeyBundle (bytes: Uint8Array): Promise<PublicKey[]> {
  return (await readKeys(bytes)).map(k => k.toPublic())
}

/**
 * Merges keys by fingerprint so that a revocation or a new expiry date known
 * to either copy is kept (openpgp's Key.update). Returns a map fingerprint → key.
 */
export async function indexKeys (keys: Iterable<Key>): Promise<Map<string, PublicKey>> {
  const byFpr = new Map<string, PublicKey>()
  for (const key of keys) {
    const pub = key.toPublic()
    const fpr = fingerprintOf(pub)
    const seen = byFpr.get(fpr)
    byFpr.set(fpr, seen === undefined ? pub : await seen.update(pub))
  }
  return byFpr
}

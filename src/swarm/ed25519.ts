/**
 * Synchronous ed25519 on node:crypto (OpenSSL), for BEP44 pointers.
 *
 * BEP44 speaks raw keys: 32-byte public keys, 64-byte signatures. node:crypto
 * takes keys as DER, so a raw key is wrapped in the fixed PKCS8 (secret seed)
 * or SPKI (public key) prefix for the ed25519 OID 1.3.101.112 (RFC 8410).
 *
 * `verify` follows the ed25519-supercop contract that bittorrent-dht calls,
 * `verify(signature, message, publicKey)`, and is fed fields straight off the
 * wire: anything that is not a byte array of the right length is `false`,
 * never an exception (an exception there would escape into the UDP handler).
 *
 * The secret is the 32-byte seed (RFC 8032); as text it is 64 hex digits.
 * `keypairFromHex` also takes libsodium's 64-byte seed‖publicKey form.
 */
import { createPrivateKey, createPublicKey, randomBytes, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { UsageError } from '../errors.ts'

export const PUBLIC_KEY_BYTES = 32
export const SEED_BYTES = 32
export const SIGNATURE_BYTES = 64

// RFC 8410 DER prefixes: SEQUENCE { version 0, AlgorithmIdentifier ed25519, OCTET STRING { OCTET STRING seed } }
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
// SEQUENCE { AlgorithmIdentifier ed25519, BIT STRING publicKey }
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')

export interface Ed25519Keypair {
  /** raw public key, 32 bytes */
  readonly publicKey: Buffer
  /** RFC 8032 seed, 32 bytes: keep secret */
  readonly seed: Buffer
}

// Signing happens on republish timers; keep the parsed KeyObject per seed.
const privateKeys = new WeakMap<Buffer, KeyObject>()

function privateKeyOf (seed: Buffer): KeyObject {
  let key = privateKeys.get(seed)
  if (key === undefined) {
    key = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' })
    privateKeys.set(seed, key)
  }
  return key
}

function badKey (message: string): UsageError {
  return new UsageError('EBADKEY', message)
}

export function keypairFromSeed (seed: Uint8Array): Ed25519Keypair {
  if (!(seed instanceof Uint8Array) || seed.byteLength !== SEED_BYTES) throw badKey(`an ed25519 seed is ${SEED_BYTES} bytes`)
  const s = Buffer.from(seed) // own copy: the caller may reuse its buffer
  const spki = createPublicKey(privateKeyOf(s)).export({ format: 'der', type: 'spki' })
  return Object.freeze({ publicKey: Buffer.from(spki.subarray(SPKI_PREFIX.length)), seed: s })
}

export function generateKeypair (): Ed25519Keypair {
  return keypairFromSeed(randomBytes(SEED_BYTES))
}

/** The secret as 64 lowercase hex digits (the seed). */
export function keypairToHex (kp: Ed25519Keypair): string {
  return kp.seed.toString('hex')
}

/** From 64 hex digits (seed) or 128 (libsodium seed‖publicKey, the public half checked). */
export function keypairFromHex (hex: string): Ed25519Keypair {
  const text = typeof hex === 'string' ? hex.trim() : ''
  if (!/^(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{128})$/.test(text)) throw badKey('an ed25519 secret is 64 hex digits (or 128: seed and public key)')
  const bytes = Buffer.from(text, 'hex')
  const kp = keypairFromSeed(bytes.subarray(0, SEED_BYTES))
  if (bytes.length === 2 * SEED_BYTES && !bytes.subarray(SEED_BYTES).equals(kp.publicKey)) {
    throw badKey('the public half of this ed25519 secret does not belong to its seed')
  }
  return kp
}

/** Parses a raw public key given as 64 hex digits or 32 bytes. */
export function publicKeyFrom (key: string | Uint8Array): Buffer {
  if (typeof key === 'string') {
    if (!/^[0-9a-fA-F]{64}$/.test(key)) throw badKey('an ed25519 public key is 64 hex digits')
    return Buffer.from(key, 'hex')
  }
  if (!(key instanceof Uint8Array) || key.byteLength !== PUBLIC_KEY_BYTES) throw badKey(`an ed25519 public key is ${PUBLIC_KEY_BYTES} bytes`)
  return Buffer.from(key)
}

/** A 64-byte signature of `message`. */
export function sign (message: Uint8Array, kp: Ed25519Keypair): Buffer {
  return cryptoSign(null, message, privateKeyOf(kp.seed))
}

/**
 * True only for a valid signature of `message` by `publicKey` (both raw).
 * Wrong types, wrong lengths, keys that are not curve points: false.
 */
export function verify (signature: unknown, message: unknown, publicKey: unknown): boolean {
  if (!(signature instanceof Uint8Array) || signature.byteLength !== SIGNATURE_BYTES) return false
  if (!(message instanceof Uint8Array)) return false
  if (!(publicKey instanceof Uint8Array) || publicKey.byteLength !== PUBLIC_KEY_BYTES) return false
  try {
    const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' })
    return cryptoVerify(null, message, key, signature)
  } catch {
    return false
  }
}

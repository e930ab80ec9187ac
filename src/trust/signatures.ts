/**
 * Detached binary OpenPGP signatures over canonical bytes, and threshold
 * counting.
 *
 * Verification rules (DESIGN.md, "Signatures"):
 * - openpgp's verify() resolves even when every signature is bad, so each
 *   `verified` promise is awaited on its own;
 * - each signature packet is checked against each candidate key separately, so
 *   a 64-bit key id shared by two keys can never credit the wrong signer;
 * - a valid signature counts for the PRIMARY key's fingerprint; signers are
 *   counted once however many of their signatures are given;
 * - keys are judged at one fixed `date`: openpgp only checks that the key was
 *   valid when the signature says it was made (a time the signer chooses), so
 *   gtfs also requires the signing key to be valid, unrevoked and unexpired at
 *   `date` (Key.getSigningKey(keyID, date)). Only history (superseded policy
 *   links, see policy-chain.ts) is verified with `{ historical: true }`, which
 *   keeps openpgp's rule: valid when signed, signed no later than `date`;
 * - only binary-document signatures (type 0x00) count: `gpg --detach-sign` and
 *   signDetached() make those.
 */
import type { PrivateKey, PublicKey, SignaturePacket } from 'openpgp'
import {
  EBADSIG, EKEYALGO, EKEYEXPIRED, EKEYREVOKED, EMALFORMED, ETHRESHOLD, ETOOLARGE, EUNKNOWNSIGNER, EWEAKKEY,
  untrusted
} from './codes.ts'
import { ProtocolError, type GtfsError } from '../errors.ts'
import { checkKeyStrength, VERIFY_CONFIG } from './keys.ts'
import { MAX_SIGNATURE_BYTES, MAX_SIGNATURE_PACKETS } from './limits.ts'
import { pgp } from './openpgp.ts'

/** Signs `data` with one key; returns one binary detached signature. */
export async function signDetached (data: Uint8Array, key: PrivateKey, opts: { date?: Date } = {}): Promise<Uint8Array> {
  const openpgp = await pgp()
  const message = await openpgp.createMessage({ binary: data })
  return await openpgp.sign({
    message,
    signingKeys: key,
    detached: true,
    format: 'binary',
    ...(opts.date === undefined ? {} : { date: opts.date })
  })
}

/** Signs `data` with each key: one detached signature per signer. */
export async function signAll (data: Uint8Array, keys: PrivateKey[], opts: { date?: Date } = {}): Promise<Uint8Array[]> {
  return await Promise.all(keys.map(async key => await signDetached(data, key, opts)))
}

/** Why one signature did not count. */
export interface SignatureProblem {
  code: string
  /** primary fingerprint of the key it was checked against, when one was found */
  fingerprint?: string
  /** issuer as the signature names it: fingerprint if present, else key id */
  issuer: string
  reason: string
}

export interface SignatureCheck {
  /** primary fingerprints (uppercase) with at least one valid signature */
  signers: Set<string>
  problems: SignatureProblem[]
}

export interface VerifyOptions {
  /**
   * Judge each key when its signature was made instead of at `date` (which
   * then only bounds signature creation times). For history only: an expired
   * key still counts for what it signed while valid. Hard revocations still
   * count at any date (openpgp applies them retroactively).
   */
  historical?: boolean
}

/**
 * Verifies detached signatures over `data` at `date` against `keys`
 * (fingerprint → key; give only the keys the policy names). Never throws for a
 * bad signature: it is reported in `problems`. Throws ETOOLARGE only when more
 * than MAX_SIGNATURE_PACKETS packets are offered.
 */
export async function verifySignatures (
  data: Uint8Array, signatures: readonly Uint8Array[], keys: ReadonlyMap<string, PublicKey>, date: Date,
  opts: VerifyOptions = {}
): Promise<SignatureCheck> {
  const openpgp = await pgp()
  const check: SignatureCheck = { signers: new Set(), problems: [] }
  const packets: SignaturePacket[] = []
  if (signatures.length > MAX_SIGNATURE_PACKETS) {
    throw new ProtocolError(ETOOLARGE, `${signatures.length} signatures offered, over the cap of ${MAX_SIGNATURE_PACKETS}`)
  }
  for (const blob of signatures) {
    if (!(blob instanceof Uint8Array)) {
      check.problems.push({ code: EMALFORMED, issuer: '?', reason: 'signature is not bytes' })
      continue
    }
    if (blob.byteLength > MAX_SIGNATURE_BYTES) {
      check.problems.push({ code: ETOOLARGE, issuer: '?', reason: `signature is ${blob.byteLength} bytes, over the ${MAX_SIGNATURE_BYTES}-byte cap` })
      continue
    }
    try {
      // A blob may hold several signature packets (gpg -u A -u B --detach-sign).
      const sig = await openpgp.readSignature({ binarySignature: blob })
      packets.push(...sig.packets)
    } catch (err) {
      check.problems.push({ code: EMALFORMED, issuer: '?', reason: `not an OpenPGP signature: ${(err as Error).message}` })
    }
    if (packets.length > MAX_SIGNATURE_PACKETS) {
      throw new ProtocolError(ETOOLARGE, `more than ${MAX_SIGNATURE_PACKETS} signature packets offered`)
    }
  }
  for (const packet of packets) {
    const issuer = packet.issuerFingerprint !== null
      ? Buffer.from(packet.issuerFingerprint).toString('hex').toUpperCase()
      : packet.issuerKeyID.toHex().toUpperCase()
    if (packet.signatureType !== openpgp.enums.signature.binary) {
      check.problems.push({ code: EBADSIG, issuer, reason: 'not a binary-document signature' })
      continue
    }
    // A wildcard issuer (all zeros) would match every key: refuse it rather
    // than try each key (gpg and gtfs always name the issuer).
    const candidates = WILDCARD_KEY_ID.test(packet.issuerKeyID.toHex())
      ? []
      : [...keys.entries()].filter(([, key]) => issuedBy(key, packet))
    if (candidates.length === 0) {
      check.problems.push({ code: EUNKNOWNSIGNER, issuer, reason: `signed by ${issuer}, a key not named by the policy (or not available)` })
      continue
    }
    for (const [fpr, key] of candidates) {
      const problem = await verifyPacket(data, packet, key, date, opts.historical === true)
      if (problem === null) {
        check.signers.add(fpr)
        break
      }
      check.problems.push({ ...problem, fingerprint: fpr, issuer })
    }
  }
  return check
}

const WILDCARD_KEY_ID = /^0+$/

function issuedBy (key: PublicKey, packet: SignaturePacket): boolean {
  const matches = key.getKeys(packet.issuerKeyID)
  if (matches.length === 0) return false
  if (packet.issuerFingerprint === null) return true
  const want = Buffer.from(packet.issuerFingerprint).toString('hex')
  return matches.some(k => k.getFingerprint() === want)
}

async function verifyPacket (
  data: Uint8Array, packet: SignaturePacket, key: PublicKey, date: Date, historical: boolean
): Promise<{ code: string, reason: string } | null> {
  const openpgp = await pgp()
  try {
    checkKeyStrength(key)
  } catch (err) {
    return { code: (err as GtfsError).code ?? EWEAKKEY, reason: (err as Error).message }
  }
  const list = new openpgp.PacketList<SignaturePacket>()
  list.push(packet)
  const result = await openpgp.verify({
    message: await openpgp.createMessage({ binary: data }),
    signature: new openpgp.Signature(list),
    verificationKeys: [key],
    date,
    format: 'binary',
    config: VERIFY_CONFIG
  })
  const entry = result.signatures[0]
  if (entry === undefined) return { code: EBADSIG, reason: 'openpgp found no signature to verify' }
  try {
    await entry.verified
  } catch (err) {
    return { code: await classifyKey(key, packet, historical ? null : date, EBADSIG), reason: (err as Error).message }
  }
  if (historical) return null
  try {
    // openpgp judged the key at the signature's own creation time; judge it now.
    await key.getSigningKey(packet.issuerKeyID, date, undefined, { ...openpgp.config, ...VERIFY_CONFIG })
  } catch (err) {
    return { code: await classifyKey(key, packet, date, EBADSIG), reason: (err as Error).message }
  }
  return null
}

/** The most precise code for a key that failed at `date`. */
async function classifyKey (key: PublicKey, packet: SignaturePacket, at: Date | null, fallback: string): Promise<string> {
  // Historical checks judge the key when the signature was made.
  const date = at ?? packet.created ?? new Date(0)
  if (await key.isRevoked(undefined, undefined, date)) return EKEYREVOKED
  const expiry = await key.getExpirationTime()
  if (expiry instanceof Date && expiry <= date) return EKEYEXPIRED
  for (const sub of key.getSubkeys(packet.issuerKeyID)) {
    // No binding signature given: any valid revocation of the subkey counts
    // (openpgp's typings want one, its code accepts none).
    if (await sub.isRevoked(undefined as unknown as SignaturePacket, key.keyPacket, date)) return EKEYREVOKED
    const subExpiry = await sub.getExpirationTime(date)
    if (subExpiry instanceof Date && subExpiry <= date) return EKEYEXPIRED
  }
  return fallback
}

export interface SignerRule {
  signers: readonly string[]
  threshold: number
}

/** Unique valid signers of `check` that `rule` names. */
export function countSigners (check: SignatureCheck, rule: SignerRule): number {
  return rule.signers.filter(fpr => check.signers.has(fpr)).length
}

// When a threshold is missed, the error carries the most telling reason
// found among the signatures that could have counted.
const PROBLEM_PRIORITY = [EKEYREVOKED, EKEYEXPIRED, EBADSIG, EWEAKKEY, EKEYALGO, EUNKNOWNSIGNER, EMALFORMED, ETOOLARGE]

/**
 * Throws unless `rule` is met by unique valid signers. The code is that of the
 * most telling problem of a signature that could have counted (revoked,
 * expired, bad, unknown signer...), else `code` (ETHRESHOLD by default: simply
 * too few signers, e.g. m−1 signatures or one signer's signature repeated).
 */
export function requireThreshold (check: SignatureCheck, rule: SignerRule, what: string, code = ETHRESHOLD): void {
  const have = countSigners(check, rule)
  if (have >= rule.threshold) return
  // Problems of signers that counted anyway (e.g. a damaged duplicate) explain nothing.
  const relevant = check.problems.filter(p => p.fingerprint === undefined ||
    (rule.signers.includes(p.fingerprint) && !check.signers.has(p.fingerprint)))
  relevant.sort((a, b) => rank(a.code) - rank(b.code))
  const first = relevant[0]
  const detail = relevant.map(p => `${p.issuer}: ${p.code} ${p.reason}`).join('; ')
  throw untrusted(
    first?.code ?? code,
    `${what}: ${have} of ${rule.threshold} required signers signed validly${detail === '' ? '' : ` (${detail})`}`,
    'ask more of the named signers to sign, or check their keys'
  )
}

function rank (code: string): number {
  const i = PROBLEM_PRIORITY.indexOf(code)
  return i === -1 ? PROBLEM_PRIORITY.length : i
}

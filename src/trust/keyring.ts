/**
 * The local keyring: signer keys on disk under one directory (by convention
 * `<dataDir>/keys/`, mode 0700).
 *
 *   <FPR>.pub.asc   armored public key (0644), merged on every import so a
 *                   revocation or new expiry is never lost
 *   <FPR>.sec.asc   armored secret key as imported or generated (0600); still
 *                   encrypted when it had a passphrase
 *   <FPR>.rev.asc   revocation certificate of a key generated here (0600)
 *
 * FPR is the primary key's full uppercase fingerprint. Every file is written
 * atomically (atomic-file.ts). Being in the keyring grants no trust: only a
 * verified policy (or the local trust override) names signers.
 */
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Key, PrivateKey, PublicKey } from 'openpgp'
import { NotFoundError } from '../errors.ts'
import { corrupt } from './codes.ts'
import { readFileCapped, writeFileAtomic } from '../atomic-file.ts'
import {
  describeKey, fingerprintOf, generateSigner, normalizeFingerprint, readKeys, unlockPrivateKey,
  type GenerateSignerOptions, type KeyInfo
} from './keys.ts'
import { MAX_KEY_BYTES } from './limits.ts'

const PUBLIC_SUFFIX = '.pub.asc'
const SECRET_SUFFIX = '.sec.asc'
const REVOCATION_SUFFIX = '.rev.asc'

export class Keyring {
  constructor (readonly dir: string) {}

  /** Generates an EdDSA signer (keys.ts generateSigner) and stores it. */
  async generate (opts: GenerateSignerOptions): Promise<KeyInfo> {
    const signer = await generateSigner(opts)
    await this.storeSecret(signer.privateKey)
    await this.storePublic(signer.publicKey)
    await writeFileAtomic(this.path(signer.fingerprint, REVOCATION_SUFFIX), signer.revocationCertificate, { mode: 0o600 })
    return await this.info(signer.fingerprint)
  }

  /**
   * Imports public or secret keys, armored or binary, one or several (as
   * `gpg --export` / `--export-secret-keys` write them). Refuses the whole
   * import (EWEAKKEY, EKEYALGO) if any key is too weak, before storing any.
   */
  async import (data: string | Uint8Array): Promise<KeyInfo[]> {
    const keys = await readKeys(data)
    const fprs: string[] = []
    for (const key of keys) {
      if (key.isPrivate()) await this.storeSecret(key)
      await this.storePublic(key.toPublic())
      fprs.push(fingerprintOf(key))
    }
    return await Promise.all([...new Set(fprs)].map(async fpr => await this.info(fpr)))
  }

  /** Armored public key, as `gpg --import` reads it. */
  async exportPublic (fingerprint: string): Promise<string> {
    return (await this.publicKey(fingerprint)).armor()
  }

  async list (): Promise<KeyInfo[]> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    const fprs = names
      .filter(n => n.endsWith(PUBLIC_SUFFIX))
      .map(n => n.slice(0, -PUBLIC_SUFFIX.length))
      .filter(f => /^[0-9A-F]+$/.test(f))
      .sort()
    return await Promise.all(fprs.map(async fpr => await this.info(fpr)))
  }

  async has (fingerprint: string): Promise<boolean> {
    return (await this.readKeyFile(normalizeFingerprint(fingerprint), PUBLIC_SUFFIX)) !== null
  }

  /** The stored public key; ENOTFOUND when absent. */
  async publicKey (fingerprint: string): Promise<PublicKey> {
    const fpr = normalizeFingerprint(fingerprint)
    const key = await this.readKeyFile(fpr, PUBLIC_SUFFIX)
    if (key === null) throw new NotFoundError(`no public key ${fpr} in the keyring`, { hint: 'import it with `gtfs key import`' })
    return key.toPublic()
  }

  /** All stored public keys (for verification, filtered by a policy later). */
  async publicKeys (): Promise<PublicKey[]> {
    const infos = await this.list()
    return await Promise.all(infos.map(async i => await this.publicKey(i.fingerprint)))
  }

  /**
   * The secret key, decrypted and ready to sign. EPASSPHRASE when it is
   * protected and the passphrase is missing or wrong; ENOTFOUND when absent.
   */
  async secretKey (fingerprint: string, passphrase?: string): Promise<PrivateKey> {
    const fpr = normalizeFingerprint(fingerprint)
    const key = await this.readKeyFile(fpr, SECRET_SUFFIX)
    if (key === null || !key.isPrivate()) throw new NotFoundError(`no secret key ${fpr} in the keyring`)
    return await unlockPrivateKey(key, passphrase)
  }

  /** Removes every file of a key. */
  async remove (fingerprint: string): Promise<void> {
    const fpr = normalizeFingerprint(fingerprint)
    for (const suffix of [SECRET_SUFFIX, REVOCATION_SUFFIX, PUBLIC_SUFFIX]) {
      await rm(this.path(fpr, suffix), { force: true })
    }
  }

  private async info (fpr: string): Promise<KeyInfo> {
    const pub = await this.publicKey(fpr)
    const secret = await this.readKeyFile(fpr, SECRET_SUFFIX)
    return await describeKey(pub, {
      hasSecret: secret !== null,
      secretProtected: secret !== null && secret.isPrivate() && !secret.isDecrypted()
    })
  }

  private async storePublic (key: PublicKey): Promise<void> {
    const fpr = fingerprintOf(key)
    const existing = await this.readKeyFile(fpr, PUBLIC_SUFFIX)
    // Merge rather than replace: an older export must not erase a revocation.
    const merged = existing === null ? key : await existing.toPublic().update(key)
    await writeFileAtomic(this.path(fpr, PUBLIC_SUFFIX), merged.armor(), { mode: 0o644 })
  }

  private async storeSecret (key: PrivateKey): Promise<void> {
    await writeFileAtomic(this.path(fingerprintOf(key), SECRET_SUFFIX), key.armor(), { mode: 0o600 })
  }

  private path (fpr: string, suffix: string): string {
    // fpr is always normalized (hex only), so it cannot name another directory.
    return join(this.dir, fpr + suffix)
  }

  private async readKeyFile (fpr: string, suffix: string): Promise<Key | null> {
    const file = this.path(fpr, suffix)
    const bytes = await readFileCapped(file, MAX_KEY_BYTES, file)
    if (bytes === null) return null
    let keys: Key[]
    try {
      keys = await readKeys(bytes)
    } catch (err) {
      throw corrupt(file, (err as Error).message, err)
    }
    if (keys.length !== 1 || fingerprintOf(keys[0]) !== fpr) throw corrupt(file, `does not hold exactly key ${fpr}`)
    return keys[0]
  }
}

/**
 * Interoperability with the real GnuPG (2.2) in a temporary GNUPGHOME: keys
 * and detached signatures made by gpg work in gtfs, and the other way round.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import {
  Keyring, makeGenesisPolicy, makeManifest, manifestBytes, repoKeyOf, signDetached, policyBytes, verifyManifest,
  verifyPolicyChain, type GeneratedSigner, type SignedDocument, type VerifiedPolicy
} from '../../../src/trust/index.ts'
import { commit, makeSigners, rejectsWithCode } from './fixtures.ts'

const run = promisify(execFile)

describe('GnuPG interoperability', () => {
  let home: string
  let work: string
  let ring: Keyring
  let ours: GeneratedSigner
  const fpr: Record<'ed' | 'rsa' | 'weak', string> = { ed: '', rsa: '', weak: '' }

  const gpg = async (...args: string[]): Promise<{ stdout: string, stderr: string }> =>
    await run('gpg', ['--batch', '--pinentry-mode', 'loopback', '--passphrase', '', ...args], {
      env: { ...process.env, GNUPGHOME: home },
      encoding: 'utf8',
      maxBuffer: 16 * 1024 * 1024
    })

  const gpgBinary = async (...args: string[]): Promise<Buffer> =>
    (await run('gpg', ['--batch', ...args], { env: { ...process.env, GNUPGHOME: home }, encoding: 'buffer', maxBuffer: 16 * 1024 * 1024 })).stdout

  /** gpg --detach-sign over `data` by each of `users` (one packet list). */
  const gpgSign = async (data: Uint8Array, users: string[]): Promise<Uint8Array> => {
    const name = randomBytes(6).toString('hex')
    await writeFile(join(work, name), data)
    await gpg(...users.flatMap(u => ['--local-user', u]), '--detach-sign', '--output', join(work, `${name}.sig`), join(work, name))
    return new Uint8Array(await readFile(join(work, `${name}.sig`)))
  }

  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'gtfs-gnupg-'))
    await chmod(home, 0o700)
    work = await mkdtemp(join(tmpdir(), 'gtfs-gpgwork-'))
    ring = new Keyring(join(work, 'keys'))
    ;[ours] = await makeSigners(1, 'gtfs')
    // Sequential: gpg-agent serializes key generation anyway.
    await gpg('--quick-gen-key', 'Ed Signer <ed@example.org>', 'ed25519', 'sign', 'never')
    await gpg('--quick-gen-key', 'Rsa Signer <rsa@example.org>', 'rsa3072', 'sign', 'never')
    await gpg('--quick-gen-key', 'Weak Signer <weak@example.org>', 'rsa1024', 'sign', 'never')
    const { stdout } = await gpg('--list-keys', '--with-colons')
    let uidOwner: string | null = null
    const lines = stdout.split('\n')
    for (const line of lines) {
      const f = line.split(':')
      if (f[0] === 'fpr' && uidOwner === null) uidOwner = f[9]!
      if (f[0] === 'pub') uidOwner = null
      if (f[0] === 'uid' && uidOwner !== null) {
        const which = /<(ed|rsa|weak)@/.exec(f[9]!)?.[1] as 'ed' | 'rsa' | 'weak' | undefined
        if (which !== undefined) fpr[which] = uidOwner
      }
    }
    assert.ok(fpr.ed !== '' && fpr.rsa !== '' && fpr.weak !== '', `fingerprints not found in:\n${stdout}`)
  })

  after(async () => {
    // Stop the gpg-agent started for this GNUPGHOME only.
    await run('gpgconf', ['--kill', 'all'], { env: { ...process.env, GNUPGHOME: home } }).catch(() => {})
    await rm(home, { recursive: true, force: true })
    await rm(work, { recursive: true, force: true })
  })

  it('imports gpg public keys (armored) and secret keys (binary), EdDSA and RSA 3072', async () => {
    for (const which of ['ed', 'rsa'] as const) {
      const pub = await gpg('--armor', '--export', fpr[which])
      const [info] = await ring.import(pub.stdout)
      assert.equal(info!.fingerprint, fpr[which])
      assert.equal(info!.hasSecret, false)
      const sec = await gpgBinary('--pinentry-mode', 'loopback', '--passphrase', '', '--export-secret-keys', fpr[which])
      const [withSecret] = await ring.import(sec)
      assert.equal(withSecret!.hasSecret, true)
      assert.equal(withSecret!.algorithm, which === 'ed' ? 'eddsaLegacy' : 'rsaEncryptSign')
    }
    const rsa = (await ring.list()).find(k => k.fingerprint === fpr.rsa)
    assert.equal(rsa?.bits, 3072)
  })

  it('refuses a gpg RSA 1024 key (EWEAKKEY)', async () => {
    const pub = await gpg('--armor', '--export', fpr.weak)
    await rejectsWithCode(() => ring.import(pub.stdout), 'EWEAKKEY')
    const sec = await gpgBinary('--pinentry-mode', 'loopback', '--passphrase', '', '--export-secret-keys', fpr.weak)
    await rejectsWithCode(() => ring.import(sec), 'EWEAKKEY')
  })

  describe('signatures', () => {
    let policy: VerifiedPolicy
    let manifest: Uint8Array
    const keys = async (): Promise<Array<Awaited<ReturnType<Keyring['publicKey']>>>> =>
      [await ring.publicKey(fpr.ed), await ring.publicKey(fpr.rsa), ours.publicKey]

    before(async () => {
      for (const which of ['ed', 'rsa'] as const) await ring.import((await gpg('--armor', '--export', fpr[which])).stdout)
      const genesis = makeGenesisPolicy({
        roots: { signers: [fpr.ed, fpr.rsa, ours.fingerprint], threshold: 3 },
        pointerKey: randomBytes(32).toString('hex')
      })
      const bytes = policyBytes(genesis)
      const doc: SignedDocument = { bytes, signatures: [await gpgSign(bytes, [fpr.ed, fpr.rsa]), await signDetached(bytes, ours.privateKey)] }
      policy = await verifyPolicyChain({ repo: repoKeyOf(bytes), links: [doc], keys: await keys(), now: new Date() })
      manifest = manifestBytes(makeManifest({ policy, seq: 1, refs: { 'refs/heads/main': { commit: commit('gpg'), catalog: null } } }))
    })

    it('counts detached signatures made by gpg --detach-sign toward the threshold', async () => {
      const sigs = [await gpgSign(manifest, [fpr.ed]), await gpgSign(manifest, [fpr.rsa]), await signDetached(manifest, ours.privateKey)]
      const opts = { isAncestor: async () => true }
      const r = await verifyManifest({ bytes: manifest, signatures: sigs, policy, keys: await keys(), accepted: null, now: new Date() }, opts)
      assert.equal(r.state.seq, 1)
      const pubKeys = await keys()
      await rejectsWithCode(() => verifyManifest({ bytes: manifest, signatures: sigs.slice(1), policy, keys: pubKeys, accepted: null, now: new Date() }, opts), 'ETHRESHOLD')
    })

    it('verifies a gtfs key and signature with gpg --verify', async () => {
      await writeFile(join(work, 'ours.asc'), ours.publicKey.armor())
      await gpg('--import', join(work, 'ours.asc'))
      await writeFile(join(work, 'manifest'), manifest)
      await writeFile(join(work, 'manifest.sig'), await signDetached(manifest, ours.privateKey))
      const { stdout } = await gpg('--status-fd', '1', '--verify', join(work, 'manifest.sig'), join(work, 'manifest'))
      assert.match(stdout, new RegExp(`VALIDSIG ${ours.fingerprint} `))
    })

    it('signs with a secret key imported from gpg, and gpg verifies it (RSA)', async () => {
      await ring.import(await gpgBinary('--pinentry-mode', 'loopback', '--passphrase', '', '--export-secret-keys', fpr.rsa))
      const key = await ring.secretKey(fpr.rsa)
      await writeFile(join(work, 'rsa.sig'), await signDetached(manifest, key))
      const { stdout } = await gpg('--status-fd', '1', '--verify', join(work, 'rsa.sig'), join(work, 'manifest'))
      assert.match(stdout, new RegExp(`VALIDSIG ${fpr.rsa} `))
    })
  })
})

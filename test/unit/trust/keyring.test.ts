import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import * as openpgp from 'openpgp'
import { Keyring, generateSigner, readKeys, signDetached, verifySignatures } from '../../../src/trust/index.ts'
import { rejectsWithCode } from './fixtures.ts'

describe('Keyring', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'gtfs-keyring-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('generates an ed25519Legacy v4 key and stores public and secret apart, secret 0600', async () => {
    const ring = new Keyring(join(dir, 'gen'))
    const info = await ring.generate({ name: 'Alice', email: 'alice@example.org' })
    assert.match(info.fingerprint, /^[0-9A-F]{40}$/)
    assert.equal(info.algorithm, 'eddsaLegacy')
    assert.equal(info.hasSecret, true)
    assert.equal(info.secretProtected, false)
    const files = (await readdir(ring.dir)).sort()
    assert.deepEqual(files, [`${info.fingerprint}.pub.asc`, `${info.fingerprint}.rev.asc`, `${info.fingerprint}.sec.asc`])
    assert.equal((await stat(join(ring.dir, `${info.fingerprint}.sec.asc`))).mode & 0o777, 0o600)
    assert.equal((await stat(ring.dir)).mode & 0o777, 0o700)
    const list = await ring.list()
    assert.deepEqual(list.map(k => k.fingerprint), [info.fingerprint])
    assert.deepEqual(list[0]!.userIDs, ['Alice <alice@example.org>'])
  })

  it('exports an armored public key that another keyring imports (armored and binary)', async () => {
    const a = new Keyring(join(dir, 'a'))
    const info = await a.generate({ name: 'Bob' })
    const armored = await a.exportPublic(info.fingerprint)
    assert.match(armored, /^-----BEGIN PGP PUBLIC KEY BLOCK-----/)
    const b = new Keyring(join(dir, 'b'))
    const [imported] = await b.import(armored)
    assert.equal(imported!.fingerprint, info.fingerprint)
    assert.equal(imported!.hasSecret, false)
    const c = new Keyring(join(dir, 'c'))
    const binary = (await readKeys(armored))[0]!.write()
    assert.equal((await c.import(binary))[0]!.fingerprint, info.fingerprint)
    await rejectsWithCode(() => c.secretKey(info.fingerprint), 'ENOTFOUND')
  })

  it('signs with a stored secret key', async () => {
    const ring = new Keyring(join(dir, 'sign'))
    const info = await ring.generate({ name: 'Carol' })
    const data = new TextEncoder().encode('{"a":1}')
    const sig = await signDetached(data, await ring.secretKey(info.fingerprint))
    const check = await verifySignatures(data, [sig], new Map([[info.fingerprint, await ring.publicKey(info.fingerprint)]]), new Date())
    assert.deepEqual([...check.signers], [info.fingerprint])
  })

  it('unlocks a passphrase-protected key only with the right passphrase (EPASSPHRASE)', async () => {
    const ring = new Keyring(join(dir, 'pass'))
    const info = await ring.generate({ name: 'Dave', passphrase: 'correct horse' })
    assert.equal(info.secretProtected, true)
    await rejectsWithCode(() => ring.secretKey(info.fingerprint), 'EPASSPHRASE')
    await rejectsWithCode(() => ring.secretKey(info.fingerprint, 'wrong'), 'EPASSPHRASE')
    const key = await ring.secretKey(info.fingerprint, 'correct horse')
    assert.equal(key.isDecrypted(), true)
  })

  it('keeps a revocation when an older copy of the key is imported later', async () => {
    const s = await generateSigner({ name: 'Eve' })
    const { publicKey: revoked } = await openpgp.revokeKey({ key: s.privateKey, format: 'object' })
    const ring = new Keyring(join(dir, 'rev'))
    await ring.import(revoked.armor())
    const [info] = await ring.import(s.publicKey.armor())
    assert.equal(info!.revoked, true)
  })

  it('refuses RSA keys under 2048 bits (EWEAKKEY), before storing anything', async () => {
    const ring = new Keyring(join(dir, 'weak'))
    const weak = await openpgp.generateKey({ type: 'rsa', rsaBits: 1024, userIDs: [{ name: 'Weak' }], format: 'object', config: { minRSABits: 1024 } })
    const good = await generateSigner({ name: 'Good' })
    await rejectsWithCode(() => ring.import(weak.publicKey.armor()), 'EWEAKKEY')
    await rejectsWithCode(() => ring.import(weak.privateKey.armor()), 'EWEAKKEY')
    await rejectsWithCode(() => ring.import(Buffer.concat([good.publicKey.write(), weak.publicKey.write()])), 'EWEAKKEY')
    assert.deepEqual(await ring.list(), [])
  })

  it('refuses input that is not a key (EMALFORMED) and paths that are not fingerprints', async () => {
    const ring = new Keyring(join(dir, 'junk'))
    await rejectsWithCode(() => ring.import('not a key'), 'EMALFORMED')
    await rejectsWithCode(() => ring.publicKey('../../etc/passwd'), 'EMALFORMED')
  })

  it('reports a damaged key file (ESTATECORRUPT)', async () => {
    const ring = new Keyring(join(dir, 'bad'))
    const info = await ring.generate({ name: 'Frank' })
    await writeFile(join(ring.dir, `${info.fingerprint}.pub.asc`), 'garbage')
    await rejectsWithCode(() => ring.publicKey(info.fingerprint), 'ESTATECORRUPT')
  })
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createPublicKey, generateKeyPairSync, sign as nodeSign, verify as nodeVerify } from 'node:crypto'
import { generateKeypair, keypairFromHex, keypairFromSeed, keypairToHex, publicKeyFrom, sign, verify } from '../../../src/swarm/ed25519.ts'

// RFC 8032 section 7.1, TEST 1 (empty message)
const RFC = {
  seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
  publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'
}

test('RFC 8032 test vector: public key from seed, deterministic signature', () => {
  const kp = keypairFromSeed(Buffer.from(RFC.seed, 'hex'))
  assert.equal(kp.publicKey.toString('hex'), RFC.publicKey)
  assert.equal(sign(Buffer.alloc(0), kp).toString('hex'), RFC.signature)
  assert.equal(verify(Buffer.from(RFC.signature, 'hex'), Buffer.alloc(0), kp.publicKey), true)
})

test('round trip against node:crypto both ways', () => {
  const msg = Buffer.from('3:seqi7e1:vd1:h32:' + 'x'.repeat(32) + 'e')
  // ours signs, node:crypto verifies with the raw key wrapped as SPKI by itself (JWK)
  const kp = generateKeypair()
  const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: kp.publicKey.toString('base64url') }, format: 'jwk' })
  assert.equal(nodeVerify(null, msg, pub, sign(msg, kp)), true)
  // node:crypto signs, ours verifies from the raw public key
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url')
  const sig = nodeSign(null, msg, privateKey)
  assert.equal(verify(sig, msg, raw), true)
  assert.equal(verify(sig, Buffer.concat([msg, Buffer.from('!')]), raw), false, 'other message')
  const flipped = Buffer.from(sig); flipped[10] ^= 1
  assert.equal(verify(flipped, msg, raw), false, 'tampered signature')
  assert.equal(verify(sig, msg, kp.publicKey), false, 'other key')
  // the seed node:crypto holds gives our keypair the same public key
  const d = privateKey.export({ format: 'jwk' }).d!
  assert.deepEqual(keypairFromSeed(Buffer.from(d, 'base64url')).publicKey, raw)
})

test('verify is false, never a throw, for bad lengths and types', () => {
  const kp = generateKeypair()
  const msg = Buffer.from('m')
  const sig = sign(msg, kp)
  for (const [s, m, k] of [
    [sig.subarray(0, 63), msg, kp.publicKey],
    [Buffer.concat([sig, Buffer.alloc(1)]), msg, kp.publicKey],
    [sig, msg, kp.publicKey.subarray(0, 31)],
    [sig, msg, Buffer.concat([kp.publicKey, Buffer.alloc(1)])],
    [Buffer.alloc(0), msg, kp.publicKey],
    [sig.toString('hex'), msg, kp.publicKey],
    [sig, msg, kp.publicKey.toString('hex')],
    [sig, 'm', kp.publicKey],
    [42, msg, kp.publicKey],
    [null, null, null],
    [undefined, msg, kp.publicKey],
    [{ length: 64 }, msg, kp.publicKey],
    [sig, msg, Buffer.alloc(32, 0xff)] // not a curve point
  ] as Array<[unknown, unknown, unknown]>) {
    assert.equal(verify(s, m, k), false)
  }
  // a Uint8Array (what bencode v4 hands bittorrent-dht) is as good as a Buffer
  assert.equal(verify(new Uint8Array(sig), new Uint8Array(msg), new Uint8Array(kp.publicKey)), true)
})

test('secret as hex: seed round trip, libsodium seed‖pk form, bad input is EBADKEY', () => {
  const kp = generateKeypair()
  const hex = keypairToHex(kp)
  assert.match(hex, /^[0-9a-f]{64}$/)
  assert.deepEqual(keypairFromHex(hex).publicKey, kp.publicKey)
  assert.deepEqual(keypairFromHex(hex.toUpperCase() + '\n').publicKey, kp.publicKey)
  const sodium = hex + kp.publicKey.toString('hex')
  assert.deepEqual(keypairFromHex(sodium).publicKey, kp.publicKey)
  const other = generateKeypair().publicKey.toString('hex')
  assert.throws(() => keypairFromHex(hex + other), { code: 'EBADKEY' })
  for (const bad of ['', 'zz'.repeat(32), hex.slice(2), hex + '00']) assert.throws(() => keypairFromHex(bad), { code: 'EBADKEY' })
  assert.throws(() => keypairFromSeed(Buffer.alloc(31)), { code: 'EBADKEY' })
  assert.deepEqual(publicKeyFrom(kp.publicKey.toString('hex')), kp.publicKey)
  assert.throws(() => publicKeyFrom(Buffer.alloc(33)), { code: 'EBADKEY' })
  assert.throws(() => publicKeyFrom('abc'), { code: 'EBADKEY' })
})

test('the keypair keeps its own copy of the seed', () => {
  const seed = Buffer.from(RFC.seed, 'hex')
  const kp = keypairFromSeed(seed)
  seed.fill(0)
  assert.equal(kp.publicKey.toString('hex'), RFC.publicKey)
  assert.equal(sign(Buffer.alloc(0), kp).toString('hex'), RFC.signature)
})

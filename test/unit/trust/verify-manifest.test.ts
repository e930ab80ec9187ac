import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import * as openpgp from 'openpgp'
import {
  MAX_CATALOG_BYTES, MAX_MANIFEST_BYTES, canonicalText, generateSigner, manifestHash, sha256Hex, verifyCatalog, verifyManifest,
  type AcceptedState, type GeneratedSigner, type VerifyManifestInput, type VerifyManifestOptions
} from '../../../src/trust/index.ts'
import {
  commit, fprs, mainAt, makeRepo, makeSigners, nowSeconds, publish, pubs, rejectsWithCode, type RepoFixture
} from './fixtures.ts'

const ff: VerifyManifestOptions = { isAncestor: async () => true }
const notFf: VerifyManifestOptions = { isAncestor: async () => false }

describe('verifyManifest', () => {
  let signers: GeneratedSigner[] // A, B, C: 2-of-3 policy
  let outsider: GeneratedSigner
  let fx: RepoFixture
  let first: Awaited<ReturnType<typeof publish>>
  let state1: AcceptedState

  const input = (doc: { bytes: Uint8Array, signatures: Uint8Array[] }, accepted: AcceptedState | null, extra: Partial<VerifyManifestInput> = {}): VerifyManifestInput =>
    ({ bytes: doc.bytes, signatures: doc.signatures, policy: fx.policy, keys: [...pubs(signers), outsider.publicKey], accepted, now: new Date(), ...extra })

  before(async () => {
    signers = await makeSigners(3)
    ;[outsider] = await makeSigners(1, 'outsider')
    fx = await makeRepo(signers, 2)
    first = await publish(fx, signers.slice(0, 2), { seq: 1 })
    state1 = (await verifyManifest(input(first, null), ff)).state
  })

  describe('threshold', () => {
    it('accepts a manifest meeting its threshold and returns the new state', async () => {
      const r = await verifyManifest(input(first, null), ff)
      assert.equal(r.unchanged, false)
      assert.deepEqual(r.state, {
        repo: fx.repo,
        policyVersion: 1,
        policyHash: fx.policy.hash,
        seq: 1,
        manifestHash: manifestHash(first.bytes),
        refs: { 'refs/heads/main': commit('c1') }
      })
    })

    it('accepts several signatures in one packet list', async () => {
      const joined = Buffer.concat(first.signatures)
      await verifyManifest(input({ bytes: first.bytes, signatures: [joined] }, null), ff)
    })

    it('rejects m-1 signatures (ETHRESHOLD)', async () => {
      await rejectsWithCode(() => verifyManifest(input({ bytes: first.bytes, signatures: [first.signatures[0]!] }, null), ff), 'ETHRESHOLD')
    })

    it('rejects one signature repeated to reach m (ETHRESHOLD)', async () => {
      const one = first.signatures[0]!
      await rejectsWithCode(() => verifyManifest(input({ bytes: first.bytes, signatures: [one, one] }, null), ff), 'ETHRESHOLD')
      await rejectsWithCode(() => verifyManifest(input({ bytes: first.bytes, signatures: [Buffer.concat([one, one])] }, null), ff), 'ETHRESHOLD')
    })

    it('rejects a signer outside the policy (EUNKNOWNSIGNER)', async () => {
      const doc = await publish(fx, [signers[0]!, outsider], { seq: 1 })
      await rejectsWithCode(() => verifyManifest(input(doc, null), ff), 'EUNKNOWNSIGNER')
    })

    it('ignores extra bad signatures once the threshold is met', async () => {
      const doc = await publish(fx, [signers[0]!, signers[1]!, outsider], { seq: 1 })
      await verifyManifest(input({ ...doc, signatures: [...doc.signatures, new Uint8Array([1, 2, 3])] }, null), ff)
    })

    it('rejects a manifest with one byte changed (EBADSIG)', async () => {
      const text = new TextDecoder().decode(first.bytes)
      const c = commit('c1')
      const forged = text.replace(c, (c[0] === 'a' ? 'b' : 'a') + c.slice(1))
      assert.notEqual(forged, text)
      await rejectsWithCode(() => verifyManifest(input({ bytes: new TextEncoder().encode(forged), signatures: first.signatures }, null), ff), 'EBADSIG')
    })

    it('applies per-ref rules: a tag needs the tag signers', async () => {
      const [tagger] = await makeSigners(1, 'tagger')
      const repo = await makeRepo(signers, 2, [{ pattern: 'refs/tags/*', signers: [tagger!.fingerprint], threshold: 1 }])
      const refs = { ...mainAt('x'), 'refs/tags/v1': { commit: commit('t'), catalog: null } }
      const keys = [...pubs(signers), tagger!.publicKey]
      const ok = await publish(repo, [signers[0]!, signers[1]!, tagger!], { seq: 1, refs })
      await verifyManifest({ bytes: ok.bytes, signatures: ok.signatures, policy: repo.policy, keys, accepted: null, now: new Date() }, ff)
      const noTag = await publish(repo, signers.slice(0, 3), { seq: 1, refs })
      await rejectsWithCode(() => verifyManifest({ bytes: noTag.bytes, signatures: noTag.signatures, policy: repo.policy, keys, accepted: null, now: new Date() }, ff), 'ETHRESHOLD')
    })
  })

  describe('sequence and chaining', () => {
    it('accepts the next manifest chained by prev', async () => {
      const next = await publish(fx, signers.slice(1), { seq: 2, prev: first.hash })
      const r = await verifyManifest(input(next, state1), ff)
      assert.equal(r.state.seq, 2)
    })

    it('rejects a lower seq (EROLLBACK)', async () => {
      const next = await publish(fx, signers.slice(0, 2), { seq: 2, prev: first.hash })
      const state2 = (await verifyManifest(input(next, state1), ff)).state
      await rejectsWithCode(() => verifyManifest(input(first, state2), ff), 'EROLLBACK')
    })

    it('accepts an equal seq with identical bytes as a no-op', async () => {
      const r = await verifyManifest(input(first, state1), notFf)
      assert.equal(r.unchanged, true)
      assert.deepEqual(r.state, state1)
    })

    it('rejects an equal seq with different bytes (ESEQCONFLICT)', async () => {
      const other = await publish(fx, signers.slice(0, 2), { seq: 1, refs: mainAt('other') })
      await rejectsWithCode(() => verifyManifest(input(other, state1), ff), 'ESEQCONFLICT')
    })

    it('rejects a broken prev chain (EPREV)', async () => {
      const next = await publish(fx, signers.slice(0, 2), { seq: 2, prev: sha256Hex(new Uint8Array([1])) })
      await rejectsWithCode(() => verifyManifest(input(next, state1), ff), 'EPREV')
    })

    it('needs the skipped manifests when seq jumps, and checks they chain (EPREV)', async () => {
      const m2 = await publish(fx, [], { seq: 2, prev: first.hash, ttlSeconds: 1 })
      const m3 = await publish(fx, [], { seq: 3, prev: m2.hash })
      const m4 = await publish(fx, signers.slice(0, 2), { seq: 4, prev: m3.hash })
      await rejectsWithCode(() => verifyManifest(input(m4, state1), ff), 'EPREV')
      await rejectsWithCode(() => verifyManifest(input(m4, state1, { intermediates: [m3.bytes, m2.bytes] }), ff), 'EPREV')
      const stray = await publish(fx, [], { seq: 2, prev: sha256Hex(new Uint8Array([2])) })
      await rejectsWithCode(() => verifyManifest(input(m4, state1, { intermediates: [stray.bytes, m3.bytes] }), ff), 'EPREV')
      // unsigned and expired intermediates are fine: the signed m4 commits to them by hash
      const r = await verifyManifest(input(m4, state1, { intermediates: [m2.bytes, m3.bytes] }), ff)
      assert.equal(r.state.seq, 4)
    })
  })

  describe('time', () => {
    it('rejects created in the future beyond the skew (EFUTURE)', async () => {
      const doc = await publish(fx, signers.slice(0, 2), { seq: 1, created: nowSeconds() + 3600 })
      await rejectsWithCode(() => verifyManifest(input(doc, null), ff), 'EFUTURE')
    })

    it('tolerates created within the skew', async () => {
      const doc = await publish(fx, signers.slice(0, 2), { seq: 1, created: nowSeconds() + 60, signDate: new Date(Date.now() + 60_000) })
      await verifyManifest(input(doc, null), ff)
    })

    it('rejects an expired manifest (EEXPIRED)', async () => {
      const doc = await publish(fx, signers.slice(0, 2), { seq: 1, created: nowSeconds() - 7200, ttlSeconds: 3600 })
      await rejectsWithCode(() => verifyManifest(input(doc, null), ff), 'EEXPIRED')
    })
  })

  describe('replay and policy', () => {
    it("rejects another repo's manifest (EREPLAY)", async () => {
      const other = await makeRepo(signers, 2)
      const doc = await publish(other, signers.slice(0, 2), { seq: 1 })
      await rejectsWithCode(() => verifyManifest(input(doc, null), ff), 'EREPLAY')
    })

    it('rejects a manifest made under another policy version (EPOLICYMISMATCH)', async () => {
      const policy = { ...fx.policy, version: 2, hash: sha256Hex(new Uint8Array([3])) }
      await rejectsWithCode(() => verifyManifest(input(first, null, { policy }), ff), 'EPOLICYMISMATCH')
    })
  })

  describe('fast-forward', () => {
    it('rejects a ref moved by non-fast-forward (ENONFF)', async () => {
      const next = await publish(fx, signers.slice(0, 2), { seq: 2, prev: first.hash })
      const asked: string[][] = []
      const opts: VerifyManifestOptions = { isAncestor: async (a, b) => { asked.push([a, b]); return false } }
      await rejectsWithCode(() => verifyManifest(input(next, state1), opts), 'ENONFF')
      assert.deepEqual(asked, [[commit('c1'), commit('c2')]])
    })

    it('allows a rewrite when the rule has allowRewrite', async () => {
      const repo = await makeRepo(signers, 2, [{ pattern: 'refs/heads/*', signers: fprs(signers), threshold: 2, allowRewrite: true }])
      const keys = pubs(signers)
      const m1 = await publish(repo, signers.slice(0, 2), { seq: 1 })
      const s1 = (await verifyManifest({ ...m1, policy: repo.policy, keys, accepted: null, now: new Date() }, ff)).state
      const m2 = await publish(repo, signers.slice(0, 2), { seq: 2, prev: m1.hash })
      const r = await verifyManifest({ ...m2, policy: repo.policy, keys, accepted: s1, now: new Date() }, notFf)
      assert.equal(r.state.refs['refs/heads/main'], commit('c2'))
    })

    it('treats deleting a ref as a rewrite (ENONFF)', async () => {
      const two = { ...mainAt('a'), 'refs/heads/dev': { commit: commit('d'), catalog: null } }
      const m1 = await publish(fx, signers.slice(0, 2), { seq: 1, refs: two })
      const s1 = (await verifyManifest(input(m1, null), ff)).state
      const m2 = await publish(fx, signers.slice(0, 2), { seq: 2, prev: m1.hash, refs: mainAt('b') })
      await rejectsWithCode(() => verifyManifest(input(m2, s1), ff), 'ENONFF')
    })
  })

  describe('signer keys', () => {
    it('does not count a revoked key (EKEYREVOKED), even next to an unrevoked copy', async () => {
      const r = await generateSigner({ name: 'Revoked', email: 'revoked@example.org' })
      const repo = await makeRepo(signers, 2, [{ pattern: 'refs/heads/*', signers: [r.fingerprint], threshold: 1 }])
      const doc = await publish(repo, [r], { seq: 1 })
      const { publicKey: revoked } = await openpgp.revokeKey({ key: r.privateKey, format: 'object' })
      const base = { ...doc, policy: repo.policy, accepted: null, now: new Date() }
      await verifyManifest({ ...base, keys: [r.publicKey] }, ff)
      await rejectsWithCode(() => verifyManifest({ ...base, keys: [revoked] }, ff), 'EKEYREVOKED')
      await rejectsWithCode(() => verifyManifest({ ...base, keys: [r.publicKey, revoked] }, ff), 'EKEYREVOKED')
    })

    it('does not count a key expired at verification time (EKEYEXPIRED)', async () => {
      const born = new Date(Date.now() - 7200_000)
      const e = await generateSigner({ name: 'Expired', email: 'expired@example.org', keyExpirationTime: 3600, date: born })
      const repo = await makeRepo(signers, 2, [{ pattern: 'refs/heads/*', signers: [e.fingerprint], threshold: 1 }])
      // signed while the key was valid: openpgp alone would accept it
      const doc = await publish(repo, [e], { seq: 1, signDate: new Date(born.getTime() + 60_000) })
      await rejectsWithCode(() => verifyManifest({ ...doc, policy: repo.policy, keys: [e.publicKey], accepted: null, now: new Date() }, ff), 'EKEYEXPIRED')
      const then = new Date(born.getTime() + 600_000)
      const early = await publish(repo, [e], { seq: 1, created: nowSeconds(then), signDate: new Date(born.getTime() + 60_000) })
      await verifyManifest({ ...early, policy: repo.policy, keys: [e.publicKey], accepted: null, now: then }, ff)
    })
  })

  describe('local trust override', () => {
    it('rejects a manifest the policy accepts but the locally trusted signers did not sign (ELOCALTRUST)', async () => {
      const local = { signers: [signers[2]!.fingerprint], threshold: 1 }
      await rejectsWithCode(() => verifyManifest(input(first, null), { ...ff, localTrust: local }), 'ELOCALTRUST')
    })

    it('accepts it when the locally trusted signer is among the policy signers', async () => {
      const doc = await publish(fx, [signers[0]!, signers[2]!], { seq: 1 })
      await verifyManifest(input(doc, null), { ...ff, localTrust: { signers: [signers[2]!.fingerprint], threshold: 1 } })
    })

    it('rejects a fork signed only by the locally trusted keys when they miss the policy threshold (ETHRESHOLD)', async () => {
      const doc = await publish(fx, [signers[2]!], { seq: 1 })
      await rejectsWithCode(() => verifyManifest(input(doc, null), { ...ff, localTrust: { signers: [signers[2]!.fingerprint], threshold: 1 } }), 'ETHRESHOLD')
    })

    it('cannot lower the bar with locally trusted keys outside the policy (ETHRESHOLD)', async () => {
      const doc = await publish(fx, [outsider], { seq: 1 })
      await rejectsWithCode(() => verifyManifest(input(doc, null), { ...ff, localTrust: { signers: [outsider.fingerprint], threshold: 1 } }), 'ETHRESHOLD')
    })
  })

  describe('malformed input', () => {
    it('refuses bad fields with EMALFORMED, never a crash', async () => {
      const good = JSON.parse(new TextDecoder().decode(first.bytes)) as Record<string, unknown>
      const main = { commit: commit('c1'), catalog: null }
      const cases: Array<Record<string, unknown>> = [
        { ...good, seq: 0 },
        { ...good, seq: '1' },
        { ...good, prev: sha256Hex(new Uint8Array([1])) },
        { ...good, seq: 2, prev: null },
        { ...good, expires: good.created },
        { ...good, refs: { 'refs/heads/main': { ...main, commit: 'XYZ' } } },
        { ...good, refs: { 'refs/heads/main': { ...main, catalog: 'abc' } } },
        { ...good, refs: { 'refs/heads/../x': main, 'refs/heads/main': main } },
        { ...good, refs: { 'refs/heads/main': { ...main, extra: true } } },
        { ...good, defaultRef: 'refs/heads/other' },
        { ...good, refs: [] },
        { ...good, unknown: 1 },
        { ...good, policyVersion: null }
      ]
      for (const doc of cases) {
        const bytes = new TextEncoder().encode(canonicalText(doc))
        await rejectsWithCode(() => verifyManifest(input({ bytes, signatures: first.signatures }, null), ff), 'EMALFORMED')
      }
      await rejectsWithCode(() => verifyManifest(input({ bytes: new TextEncoder().encode('null'), signatures: [] }, null), ff), 'EMALFORMED')
    })

    it('refuses an invalid verification time instead of skipping the time checks (EMALFORMED)', async () => {
      await rejectsWithCode(() => verifyManifest(input(first, null, { now: new Date(NaN) }), ff), 'EMALFORMED')
      await rejectsWithCode(() => verifyManifest(input(first, null), { ...ff, maxSkewSeconds: -1 }), 'EMALFORMED')
    })
  })

  describe('caps', () => {
    it('refuses an oversized manifest before parsing it (ETOOLARGE)', async () => {
      const junk = new Uint8Array(MAX_MANIFEST_BYTES + 1).fill(0x7b) // '{{{…': not JSON
      await rejectsWithCode(() => verifyManifest(input({ bytes: junk, signatures: [] }, null), ff), 'ETOOLARGE')
    })
  })
})

describe('verifyCatalog', () => {
  it('accepts bytes matching the hash', () => {
    const bytes = new TextEncoder().encode('catalog')
    verifyCatalog(bytes, sha256Hex(bytes))
  })

  it('rejects a catalog whose hash does not match (ECATALOG)', async () => {
    const bytes = new TextEncoder().encode('catalog')
    await rejectsWithCode(() => verifyCatalog(bytes, sha256Hex(new TextEncoder().encode('other'))), 'ECATALOG')
  })

  it('refuses an oversized catalog before hashing (ETOOLARGE)', async () => {
    const big = new Uint8Array(MAX_CATALOG_BYTES + 1)
    await rejectsWithCode(() => verifyCatalog(big, 'not even a hash'), 'ETOOLARGE')
  })
})

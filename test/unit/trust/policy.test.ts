import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { before, describe, it } from 'node:test'
import * as openpgp from 'openpgp'
import {
  MAX_POLICY_BYTES, canonicalBytes, generateSigner, makeGenesisPolicy, makeNextPolicy, parsePolicy, repoKeyOf, ruleForRef, sha256Hex,
  signDetached, signPolicy, verifyPolicyChain,
  type GeneratedSigner, type Policy, type SignedDocument
} from '../../../src/trust/index.ts'
import { fprs, makeSigners, nowSeconds, pubs, rejectsWithCode } from './fixtures.ts'

describe('policy', () => {
  let oldRoots: GeneratedSigner[]
  let newRoots: GeneratedSigner[]
  let genesis: SignedDocument
  let repo: string
  const keys = (): ReturnType<typeof pubs> => [...pubs(oldRoots), ...pubs(newRoots)]
  const now = new Date()

  before(async () => {
    oldRoots = await makeSigners(3, 'old')
    newRoots = await makeSigners(3, 'new')
    const policy = makeGenesisPolicy({
      roots: { signers: fprs(oldRoots), threshold: 2 },
      rules: [{ pattern: 'refs/heads/*', signers: fprs(oldRoots), threshold: 1 }],
      pointerKey: randomBytes(32).toString('hex'),
      created: nowSeconds() - 100
    })
    genesis = await signPolicy(policy, oldRoots.slice(0, 2).map(s => s.privateKey))
    repo = repoKeyOf(genesis.bytes)
  })

  it('names the repo by the SHA-256 of the genesis canonical bytes', async () => {
    assert.equal(repo, sha256Hex(genesis.bytes))
    assert.deepEqual(genesis.bytes, canonicalBytes(parsePolicy(genesis.bytes)))
    const v = await verifyPolicyChain({ repo, links: [genesis], keys: keys(), now })
    assert.equal(v.version, 1)
    assert.equal(v.hash, repo)
    assert.equal(v.repo, repo)
  })

  it('rejects a genesis signed by fewer than its root threshold (ETHRESHOLD)', async () => {
    await rejectsWithCode(() => verifyPolicyChain({ repo, links: [{ bytes: genesis.bytes, signatures: genesis.signatures.slice(0, 1) }], keys: keys(), now }), 'ETHRESHOLD')
  })

  it("rejects another repo's genesis (EREPLAY)", async () => {
    await rejectsWithCode(() => verifyPolicyChain({ repo: sha256Hex(new Uint8Array([9])), links: [genesis], keys: keys(), now }), 'EREPLAY')
  })

  describe('rotation', () => {
    let next: Policy
    before(() => {
      next = makeNextPolicy(genesis.bytes, { roots: { signers: fprs(newRoots), threshold: 2 } })
    })

    it('makes version N+1 with repo and prev filled in', () => {
      assert.equal(next.version, 2)
      assert.equal(next.repo, repo)
      assert.equal(next.prev, sha256Hex(genesis.bytes))
    })

    it('accepts rotation signed by a threshold of the old AND the new roots', async () => {
      const v2 = await signPolicy(next, [oldRoots[0]!, oldRoots[2]!, newRoots[0]!, newRoots[1]!].map(s => s.privateKey))
      const v = await verifyPolicyChain({ repo, links: [genesis, v2], keys: keys(), now })
      assert.equal(v.version, 2)
      assert.deepEqual(v.policy.roots.signers, fprs(newRoots))
      // the chain goes on: version 3 needs the new roots only (they are old and new)
      const next3 = makeNextPolicy(v2.bytes, { rules: [] })
      const v3 = await signPolicy(next3, newRoots.slice(1).map(s => s.privateKey))
      const w = await verifyPolicyChain({ repo, links: [genesis, v2, v3], keys: keys(), now })
      assert.equal(w.version, 3)
      assert.equal(ruleForRef(w.policy.rules, w.policy.roots, 'refs/heads/main').pattern, null)
    })

    it('rejects rotation signed only by the new keys (EPOLICYROTATION)', async () => {
      const v2 = await signPolicy(next, newRoots.map(s => s.privateKey))
      await rejectsWithCode(() => verifyPolicyChain({ repo, links: [genesis, v2], keys: keys(), now }), 'EPOLICYROTATION')
    })

    it('rejects rotation signed only by the old keys (EPOLICYROTATION)', async () => {
      const v2 = await signPolicy(next, oldRoots.map(s => s.privateKey))
      await rejectsWithCode(() => verifyPolicyChain({ repo, links: [genesis, v2], keys: keys(), now }), 'EPOLICYROTATION')
    })

    it('rejects a link whose prev is not the previous hash (EPREV)', async () => {
      const bad = { ...next, prev: sha256Hex(new Uint8Array([1])) }
      const v2 = await signPolicy(bad, [...oldRoots, ...newRoots].map(s => s.privateKey))
      await rejectsWithCode(() => verifyPolicyChain({ repo, links: [genesis, v2], keys: keys(), now }), 'EPREV')
    })

    it('rejects a version that does not increase by exactly 1 (EPOLICYROTATION)', async () => {
      const bad = { ...next, version: 3 }
      const v3 = await signPolicy(bad, [...oldRoots, ...newRoots].map(s => s.privateKey))
      await rejectsWithCode(() => verifyPolicyChain({ repo, links: [genesis, v3], keys: keys(), now }), 'EPOLICYROTATION')
    })

    it('pins the accepted policy: shorter chain (EROLLBACK), forked version (EPOLICYROTATION)', async () => {
      const signersAll = [...oldRoots, ...newRoots].map(s => s.privateKey)
      const v2 = await signPolicy(next, signersAll)
      const accepted = { policyVersion: 2, policyHash: sha256Hex(v2.bytes) }
      await rejectsWithCode(() => verifyPolicyChain({ repo, links: [genesis], keys: keys(), now, accepted }), 'EROLLBACK')
      const fork = await signPolicy({ ...next, rules: [] }, signersAll)
      await rejectsWithCode(() => verifyPolicyChain({ repo, links: [genesis, fork], keys: keys(), now, accepted }), 'EPOLICYROTATION')
      await verifyPolicyChain({ repo, links: [genesis, v2], keys: keys(), now, accepted })
    })
  })

  describe('key validity over time', () => {
    // K: a root key valid for one hour, two hours ago; N: a fresh root key.
    let k: GeneratedSigner
    let n: GeneratedSigner
    let v1: SignedDocument
    const born = new Date(Date.now() - 7200_000)
    const at = (seconds: number): Date => new Date(born.getTime() + seconds * 1000)

    before(async () => {
      k = await generateSigner({ name: 'Short lived', keyExpirationTime: 3600, date: born })
      ;[n] = await makeSigners(1, 'successor')
      const g = makeGenesisPolicy({ roots: { signers: [k.fingerprint], threshold: 1 }, pointerKey: '00'.repeat(32), created: nowSeconds(at(60)) })
      v1 = await signPolicy(g, [k.privateKey], { date: at(60) })
    })

    it('refuses a latest policy whose roots are expired now (EKEYEXPIRED)', async () => {
      await rejectsWithCode(() => verifyPolicyChain({ repo: repoKeyOf(v1.bytes), links: [v1], keys: [k.publicKey], now }), 'EKEYEXPIRED')
    })

    it('keeps history valid after a rotation away from a root key that has since expired', async () => {
      const next = makeNextPolicy(v1.bytes, { roots: { signers: [n!.fingerprint], threshold: 1 }, created: nowSeconds(at(120)) })
      const bytes = (await signPolicy(next, [])).bytes
      const v2 = { bytes, signatures: [await signDetached(bytes, k.privateKey, { date: at(120) }), await signDetached(bytes, n!.privateKey)] }
      const v = await verifyPolicyChain({ repo: repoKeyOf(v1.bytes), links: [v1, v2], keys: [k.publicKey, n!.publicKey], now })
      assert.equal(v.version, 2)
      // a compromised (hard-revoked) old root voids its history
      const { publicKey: revoked } = await openpgp.revokeKey({ key: k.privateKey, format: 'object', date: at(30) })
      await rejectsWithCode(() => verifyPolicyChain({ repo: repoKeyOf(v1.bytes), links: [v1, v2], keys: [revoked, n!.publicKey], now }), 'EKEYREVOKED')
    })
  })

  describe('format', () => {
    it('refuses an oversized policy before parsing it (ETOOLARGE)', async () => {
      const junk = new Uint8Array(MAX_POLICY_BYTES + 1).fill(0x5b) // '[[[…': not JSON
      await rejectsWithCode(() => parsePolicy(junk), 'ETOOLARGE')
      await rejectsWithCode(() => verifyPolicyChain({ repo, links: [{ bytes: junk, signatures: [] }], keys: [], now }), 'ETOOLARGE')
    })

    it('refuses bad documents (EMALFORMED)', async () => {
      const good = JSON.parse(new TextDecoder().decode(genesis.bytes)) as Record<string, unknown>
      const cases: Array<Record<string, unknown>> = [
        { ...good, extra: 1 },
        { ...good, roots: { signers: [], threshold: 1 } },
        { ...good, roots: { signers: fprs(oldRoots), threshold: 4 } },
        { ...good, roots: { signers: [fprs(oldRoots)[0]!.toLowerCase()], threshold: 1 } },
        { ...good, repo },
        { ...good, version: 2 },
        { ...good, pointerKey: 'abc' },
        { ...good, rules: [{ pattern: 'refs/heads/*x', signers: fprs(oldRoots), threshold: 1 }] },
        { ...good, rules: [{ pattern: 'refs/heads/*', signers: fprs(oldRoots), threshold: 1 }, { pattern: 'refs/heads/*', signers: fprs(oldRoots), threshold: 1 }] }
      ]
      for (const doc of cases) await rejectsWithCode(() => parsePolicy(canonicalBytes(doc)), 'EMALFORMED')
      await rejectsWithCode(() => parsePolicy(new TextEncoder().encode(JSON.stringify(good, null, 1))), 'EMALFORMED')
      await rejectsWithCode(() => canonicalBytes({ ...good, created: 1.5 }), 'EMALFORMED')
    })
  })
})

describe('ruleForRef', () => {
  const roots = { signers: ['A'.repeat(40)], threshold: 1 }
  const rules = [
    { pattern: 'refs/*', signers: ['B'.repeat(40)], threshold: 1 },
    { pattern: 'refs/heads/*', signers: ['C'.repeat(40)], threshold: 1 },
    { pattern: 'refs/heads/main', signers: ['D'.repeat(40)], threshold: 1, allowRewrite: true }
  ]
  it('prefers the exact ref, then the longest prefix, then the roots', () => {
    assert.equal(ruleForRef(rules, roots, 'refs/heads/main').pattern, 'refs/heads/main')
    assert.equal(ruleForRef(rules, roots, 'refs/heads/main').allowRewrite, true)
    assert.equal(ruleForRef(rules, roots, 'refs/heads/feature/x').pattern, 'refs/heads/*')
    assert.equal(ruleForRef(rules, roots, 'refs/tags/v1').pattern, 'refs/*')
    assert.equal(ruleForRef(rules.slice(1), roots, 'refs/tags/v1').pattern, null)
    assert.deepEqual(ruleForRef(rules.slice(1), roots, 'refs/tags/v1').signers, roots.signers)
  })
})

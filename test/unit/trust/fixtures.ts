/**
 * Shared fixtures for the trust tests: signers, a repo with a verified
 * genesis policy, manifests, and an assertion on error codes.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import type { PublicKey } from 'openpgp'
import {
  generateSigner, makeGenesisPolicy, makeManifest, manifestHash, nowSeconds, repoKeyOf, signAll, signManifest,
  signPolicy, verifyPolicyChain,
  type GeneratedSigner, type RefEntry, type RefRule, type SignedDocument, type VerifiedPolicy
} from '../../../src/trust/index.ts'

export { nowSeconds }

/** Asserts that `fn` rejects (or throws) with a GtfsError of exactly `code`. */
export async function rejectsWithCode (fn: () => unknown, code: string): Promise<void> {
  await assert.rejects(async () => { await fn() }, (err: unknown) => {
    const e = err as { code?: string, message?: string }
    assert.equal(e.code, code, `expected ${code}, got ${String(e.code)}: ${String(e.message)}`)
    return true
  })
}

export async function makeSigners (n: number, prefix = 'signer'): Promise<GeneratedSigner[]> {
  return await Promise.all(Array.from({ length: n }, async (_, i) =>
    await generateSigner({ name: `${prefix} ${i}`, email: `${prefix}${i}@example.org` })))
}

export const fprs = (signers: GeneratedSigner[]): string[] => signers.map(s => s.fingerprint)
export const pubs = (signers: GeneratedSigner[]): PublicKey[] => signers.map(s => s.publicKey)

/** A fake commit id derived from a label. */
export function commit (label: string): string {
  return createHash('sha1').update(label).digest('hex')
}

export interface RepoFixture {
  repo: string
  genesis: SignedDocument
  policy: VerifiedPolicy
}

/** A repo whose genesis is signed by all `roots`, verified. */
export async function makeRepo (roots: GeneratedSigner[], threshold: number, rules: RefRule[] = [], keys: PublicKey[] = []): Promise<RepoFixture> {
  const policy = makeGenesisPolicy({
    roots: { signers: fprs(roots), threshold },
    rules,
    pointerKey: randomBytes(32).toString('hex')
  })
  const genesis = await signPolicy(policy, roots.map(s => s.privateKey))
  const repo = repoKeyOf(genesis.bytes)
  const verified = await verifyPolicyChain({ repo, links: [genesis], keys: [...pubs(roots), ...keys], now: new Date() })
  return { repo, genesis, policy: verified }
}

export interface PublishOptions {
  seq: number
  prev?: string | null
  refs?: Record<string, RefEntry>
  created?: number
  ttlSeconds?: number
  signDate?: Date
}

export const mainAt = (label: string): Record<string, RefEntry> =>
  ({ 'refs/heads/main': { commit: commit(label), catalog: null } })

/** A manifest of `fx` signed by each of `signers`, with its hash. */
export async function publish (fx: RepoFixture, signers: GeneratedSigner[], opts: PublishOptions): Promise<SignedDocument & { hash: string }> {
  const manifest = makeManifest({
    policy: fx.policy,
    seq: opts.seq,
    prev: opts.prev ?? null,
    refs: opts.refs ?? mainAt(`c${opts.seq}`),
    ...(opts.created === undefined ? {} : { created: opts.created }),
    ...(opts.ttlSeconds === undefined ? {} : { ttlSeconds: opts.ttlSeconds })
  })
  const doc = await signManifest(manifest, signers.map(s => s.privateKey), opts.signDate === undefined ? {} : { date: opts.signDate })
  return { ...doc, hash: manifestHash(doc.bytes) }
}

export { signAll }

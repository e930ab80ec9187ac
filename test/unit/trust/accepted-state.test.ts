import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  clearLocalTrust, loadAcceptedState, loadLocalTrust, saveAcceptedState, saveLocalTrust, sha256Hex,
  type AcceptedState
} from '../../../src/trust/index.ts'
import { commit, rejectsWithCode } from './fixtures.ts'

const repo = sha256Hex(new TextEncoder().encode('repo'))
const state = (seq: number): AcceptedState => ({
  repo,
  policyVersion: 1,
  policyHash: sha256Hex(new TextEncoder().encode('policy')),
  seq,
  manifestHash: sha256Hex(new TextEncoder().encode(`manifest ${seq}`)),
  refs: { 'refs/heads/main': commit(`c${seq}`), 'refs/tags/v1': commit('t') }
})

describe('accepted state', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'gtfs-state-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('is null before anything is saved', async () => {
    assert.equal(await loadAcceptedState(join(dir, 'none'), repo), null)
  })

  it('round-trips through an atomic write, one file per repo, no temp files left', async () => {
    const d = join(dir, 'rt')
    await saveAcceptedState(d, state(1))
    await saveAcceptedState(d, state(2))
    assert.deepEqual(await loadAcceptedState(d, repo), state(2))
    assert.deepEqual(await readdir(d), [`${repo}.json`])
  })

  it('refuses to save an older seq (EROLLBACK) or another manifest at the same seq (ESEQCONFLICT)', async () => {
    const d = join(dir, 'guard')
    await saveAcceptedState(d, state(5))
    await rejectsWithCode(() => saveAcceptedState(d, state(4)), 'EROLLBACK')
    await rejectsWithCode(() => saveAcceptedState(d, { ...state(5), manifestHash: sha256Hex(new Uint8Array([1])) }), 'ESEQCONFLICT')
    await saveAcceptedState(d, state(5))
  })

  it('fails loudly on a corrupt file (ESTATECORRUPT), and never resets it', async () => {
    const d = join(dir, 'corrupt')
    await saveAcceptedState(d, state(3))
    const file = join(d, `${repo}.json`)
    const good = await readFile(file, 'utf8')
    const bad = [good.slice(0, 20), '', good.replace('"seq":3', '"seq":"3"'), good.replace('"seq":3', '"seq":3,"x":1'), good + ' ',
      good.replace(repo, sha256Hex(new Uint8Array([7])))]
    for (const text of bad) {
      await writeFile(file, text)
      await rejectsWithCode(() => loadAcceptedState(d, repo), 'ESTATECORRUPT')
      await rejectsWithCode(() => saveAcceptedState(d, state(4)), 'ESTATECORRUPT')
      assert.equal(await readFile(file, 'utf8'), text)
    }
  })

  it('refuses a repo key that could name another path', async () => {
    await rejectsWithCode(() => loadAcceptedState(dir, '../x'), 'EMALFORMED')
  })
})

describe('local trust', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'gtfs-trust-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('round-trips, normalizing fingerprints, and clears', async () => {
    const fpr = 'ab'.repeat(20)
    assert.equal(await loadLocalTrust(dir, repo), null)
    await saveLocalTrust(dir, repo, { signers: [fpr], threshold: 1 })
    assert.deepEqual(await loadLocalTrust(dir, repo), { signers: [fpr.toUpperCase()], threshold: 1 })
    await clearLocalTrust(dir, repo)
    assert.equal(await loadLocalTrust(dir, repo), null)
  })

  it('refuses an invalid set (EMALFORMED) and a corrupt file (ESTATECORRUPT)', async () => {
    await rejectsWithCode(() => saveLocalTrust(dir, repo, { signers: ['AB'.repeat(20)], threshold: 2 }), 'EMALFORMED')
    await writeFile(join(dir, `${repo}.json`), '{"format":1}')
    await rejectsWithCode(() => loadLocalTrust(dir, repo), 'ESTATECORRUPT')
  })
})

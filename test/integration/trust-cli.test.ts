/**
 * The trust and publishing commands through the real CLI, each machine a
 * separate GTFS_HOME: key generate → init → publish → verify; m-of-n signing
 * carried between two machines with manifest export/import; a policy
 * rotation signed on two machines; local trust; and the error codes of
 * tampered, oversized and protected inputs.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errorCode, gtfs, gtfsEnv } from '../helpers/mounts.ts'
import { git, GTFS, run, tempDir } from '../helpers/run.ts'
import { generateSigner, MAX_MANIFEST_BYTES } from '../../src/trust/index.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let repo: string
let h1: string // Ada's machine
let h2: string // Bob's machine
let ada: string
let bob: string

async function ok (home: string, ...args: string[]): Promise<string> {
  const r = await gtfs(home, args)
  assert.equal(r.code, 0, `gtfs ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

async function json<T = Record<string, any>> (home: string, ...args: string[]): Promise<T> {
  return JSON.parse(await ok(home, ...args, '--json')) as T
}

async function fails (home: string, code: string, ...args: string[]): Promise<void> {
  const r = await gtfs(home, [...args, '--json'])
  assert.notEqual(r.code, 0, `gtfs ${args.join(' ')} should fail`)
  assert.equal(errorCode(r), code, r.stderr)
}

async function commit (file: string, text: string): Promise<string> {
  await writeFile(join(repo, file), text)
  await git(repo, 'add', '-A')
  await git(repo, 'commit', '-q', '-m', file)
  return (await git(repo, 'rev-parse', 'HEAD')).trim()
}

before(async () => {
  tmp = await tempDir('trust-cli')
  repo = join(tmp.path, 'repo')
  h1 = join(tmp.path, 'h1')
  h2 = join(tmp.path, 'h2')
  await git(tmp.path, 'init', '-q', repo)
  await commit('README', 'hello\n')
  ;[ada, bob] = await Promise.all([ok(h1, 'key', 'generate', '--name', 'Ada'), ok(h2, 'key', 'generate', '--name', 'Bob')].map(async p => (await p).trim()))
  // Each machine knows the other's public key.
  await ok(h2, 'key', 'export', bob, '-o', join(tmp.path, 'bob.asc'))
  await ok(h1, 'key', 'export', ada, '-o', join(tmp.path, 'ada.asc'))
  await ok(h1, 'key', 'import', join(tmp.path, 'bob.asc'))
  await ok(h2, 'key', 'import', join(tmp.path, 'ada.asc'))
})

after(async () => { await tmp.remove() })

describe('one signer', () => {
  let key: string
  test('key generate → init → publish → verify is accepted and persisted', async () => {
    const keys = await json<Array<{ fingerprint: string, hasSecret: boolean }>>(h1, 'key', 'list')
    assert.deepEqual(keys.map(k => [k.fingerprint, k.hasSecret]).sort(), [[ada, true], [bob, false]].sort())
    const secret = await stat(join(h1, 'data', 'keys', `${ada}.sec.asc`))
    assert.equal(secret.mode & 0o777, 0o600)
    key = (await ok(h1, 'init', repo, '--signer', ada)).trim()
    assert.match(key, /^[0-9a-f]{64}$/)
    assert.equal((await stat(join(h1, 'data', 'repos', key, 'pointer.key'))).mode & 0o777, 0o600)
    const pub = await json(h1, 'publish', repo, '--repo', key, '--expires', '1d')
    assert.equal(pub.complete, true)
    assert.equal(pub.seq, 1)
    const v = await json(h1, 'verify', key)
    assert.equal(v.accepted, true)
    assert.equal(v.seq, 1)
    assert.equal(v.catalogs, 1)
    assert.equal(v.unchanged, false)
    assert.equal((await json(h1, 'verify', key)).unchanged, true)
    const head = (await git(repo, 'rev-parse', 'HEAD')).trim()
    assert.equal(v.manifest.refs['refs/heads/main'].commit, head)
  })

  test('the next publish fast-forwards; verify accepts it and the store is a readable git repository', async () => {
    const c2 = await commit('two', '2\n')
    const pub = await json(h1, 'publish', repo, '--repo', key)
    assert.equal(pub.seq, 2)
    const v = await json(h1, 'verify', key)
    assert.equal(v.seq, 2)
    assert.equal(v.manifest.refs['refs/heads/main'].commit, c2)
    const fsck = await git(join(h1, 'data', 'store'), 'fsck', '--no-dangling')
    assert.equal(fsck.trim(), '')
  })

  test('local trust: only the chosen signers are accepted; trust show reports it', async () => {
    await ok(h1, 'trust', 'set', key, '--signer', bob)
    const shown = await json(h1, 'trust', 'show', key)
    assert.deepEqual(shown.localTrust, { signers: [bob], threshold: 1 })
    assert.equal(shown.accepted.seq, 2)
    await commit('three', '3\n')
    await ok(h1, 'publish', repo, '--repo', key)
    await fails(h1, 'ELOCALTRUST', 'verify', key)
    await ok(h1, 'trust', 'set', key, '--clear')
    assert.equal((await json(h1, 'trust', 'show', key)).localTrust, null)
    assert.equal((await json(h1, 'verify', key)).seq, 3)
    const all = await json<Array<{ repo: string }>>(h1, 'trust', 'show')
    assert.ok(all.some(r => r.repo === key))
  })

  test('a tampered catalog (ECATALOG) and an oversized manifest (ETOOLARGE) in a file are refused', async () => {
    const file = join(tmp.path, 'one.gtfs')
    await ok(h1, 'manifest', 'export', key, '-o', file)
    const b = JSON.parse(await readFile(file, 'utf8')) as { catalogs: Record<string, string>, pendingManifest: unknown, manifest: { bytes: string } }
    const [hash] = Object.keys(b.catalogs)
    const tampered = { ...b, catalogs: { [hash]: Buffer.from('{"not":"the signed catalog"}').toString('base64') } }
    await writeFile(join(tmp.path, 'tampered.gtfs'), JSON.stringify(tampered))
    await fails(h2, 'ECATALOG', 'verify', join(tmp.path, 'tampered.gtfs'))
    await fails(h2, 'ECATALOG', 'manifest', 'import', join(tmp.path, 'tampered.gtfs'))
    const big = { ...b, manifest: { ...b.manifest, bytes: Buffer.alloc(MAX_MANIFEST_BYTES + 1, 0x7b).toString('base64') } }
    await writeFile(join(tmp.path, 'big.gtfs'), JSON.stringify(big))
    await fails(h2, 'ETOOLARGE', 'verify', join(tmp.path, 'big.gtfs'))
    // The genuine file verifies on the other machine too (it carries Ada's public key).
    assert.equal((await json(h2, 'verify', file)).seq, 3)
  })
})

describe('two signers on two machines', () => {
  let key: string
  test('m-of-n: pending with 1 of 2, co-signed elsewhere, accepted after import back', async () => {
    key = (await ok(h1, 'init', repo, '--signer', ada, '--signer', bob, '--threshold', '1', '--rule', `refs/heads/*=${ada},${bob}:2`)).trim()
    const pub = await json(h1, 'publish', repo, '--repo', key)
    assert.equal(pub.complete, false)
    assert.deepEqual(pub.signedNow, [ada])
    await fails(h1, 'ETHRESHOLD', 'verify', key)
    const out = join(tmp.path, 'pending.gtfs')
    await ok(h1, 'manifest', 'export', key, '-o', out)
    const imported = await json(h2, 'manifest', 'import', out)
    assert.equal(imported.created, true)
    assert.equal(imported.seq, null)
    const signed = await json(h2, 'sign', key)
    assert.deepEqual(signed.signedManifest, [bob])
    assert.equal(signed.promotedManifest, 1)
    await fails(h2, 'ENOPENDING', 'sign', key)
    await ok(h2, 'manifest', 'export', key, '-o', out)
    const back = await json(h1, 'manifest', 'import', out)
    assert.equal(back.seq, 1)
    const v = await json(h1, 'verify', key)
    assert.equal(v.accepted, true)
    assert.equal(v.seq, 1)
  })

  test('policy update: pending until old and new roots signed on both machines', async () => {
    // Roots go from "Ada or Bob" to "Ada and Bob"; Ada alone cannot make it take effect.
    const up = await json(h1, 'policy', 'update', key, '--signer', ada, '--signer', bob, '--threshold', '2')
    assert.equal(up.complete, false)
    assert.equal(up.version, 2)
    const out = join(tmp.path, 'policy.gtfs')
    await ok(h1, 'manifest', 'export', key, '-o', out)
    await ok(h2, 'manifest', 'import', out)
    const signed = await json(h2, 'sign', key)
    assert.deepEqual(signed.signedPolicy, [bob])
    assert.equal(signed.promotedPolicy, 2)
    await ok(h2, 'manifest', 'export', key, '-o', out)
    await ok(h1, 'manifest', 'import', out)
    const shown = await json(h1, 'trust', 'show', key)
    assert.equal(shown.policy.version, 2)
    assert.deepEqual(shown.policy.roots, { signers: [ada, bob], threshold: 2 })
    assert.equal(shown.pendingPolicy, null)
    // The manifest was made under version 1: a reader holding version 2 wants a new one.
    await fails(h1, 'EPOLICYMISMATCH', 'verify', key)
  })
})

describe('errors', () => {
  test('unknown repos, signers and git directories have stable codes', async () => {
    await fails(h2, 'ENOREPO', 'verify', 'cd'.repeat(32))
    await fails(h2, 'ENOREPO', 'publish', repo)
    await fails(h2, 'ENOTFOUND', 'init', repo, '--signer', 'F'.repeat(40))
    await fails(h2, 'EMALFORMED', 'init', repo, '--signer', 'nope')
    await fails(h2, 'EUSAGE', 'init', repo, '--signer', ada, '--signer', bob)
    await fails(h2, 'ENOTGITDIR', 'init', join(tmp.path, 'nowhere'), '--signer', bob)
    await fails(h2, 'EUSAGE', 'publish', repo, '--expires', 'soon')
  })

  test('a passphrase-protected secret key needs its passphrase: a file, never a silent failure', async () => {
    const signer = await generateSigner({ name: 'Carol', passphrase: 'correct horse' })
    const file = join(tmp.path, 'carol.sec.asc')
    await writeFile(file, signer.privateKey.armor())
    await writeFile(join(tmp.path, 'wrong'), 'battery staple\n')
    await writeFile(join(tmp.path, 'right'), 'correct horse\n')
    await fails(h2, 'EPASSPHRASE', 'key', 'import', file)
    await fails(h2, 'EPASSPHRASE', 'key', 'import', file, '--passphrase-file', join(tmp.path, 'wrong'))
    const [info] = await json<Array<{ fingerprint: string, secretProtected: boolean }>>(h2, 'key', 'import', file, '--passphrase-file', join(tmp.path, 'right'))
    assert.equal(info.fingerprint, signer.fingerprint)
    assert.equal(info.secretProtected, true)
    // "-" reads standard input (here a binary public key, as gpg --export writes it)
    const h3 = join(tmp.path, 'h3')
    const r = await run(process.execPath, [GTFS, 'key', 'import', '-', '--json'], { env: gtfsEnv(h3), input: Buffer.from(signer.publicKey.write()) })
    assert.equal(r.code, 0, r.stderr)
    assert.equal((JSON.parse(r.stdout) as Array<{ fingerprint: string }>)[0].fingerprint, signer.fingerprint)
  })
})

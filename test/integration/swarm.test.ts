/**
 * The swarm end to end, with real processes on loopback: a DHT node, three
 * gtfs daemons (A publishes, B and C read) and a hostile peer. B mounts by repo
 * key with an empty cache; C mounts with A gone and gets everything from B.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { chmod, mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errorCode, forceUnmount, gtfs, gtfsEnv, isMountpoint, stopDaemon } from '../helpers/mounts.ts'
import { startJsonProcess, type Running } from '../helpers/processes.ts'
import { git, GTFS, must, ROOT, run, tempDir } from '../helpers/run.ts'
import { archive as archiveOf, contents, until } from '../helpers/swarm.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let repo: string
let key: string
let dht: Running
const helpers: Running[] = []
const homes: Record<string, string> = {}
const mounts: Array<[string, string]> = []
let env: NodeJS.ProcessEnv
let v2PublishedAt = 0

async function g (who: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  return await gtfs(homes[who], args, { ...env, ...extra })
}

async function mustG (who: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await g(who, args, extra)
  assert.equal(r.code, 0, `${who}: gtfs ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

async function archive (ref: string): Promise<Map<string, string>> {
  return await archiveOf(repo, ref, join(tmp.path, `archive-${ref.replace(/\W/g, '_')}`))
}

async function status (who: string): Promise<{ daemon: { swarm: { repos: Array<{ repo: string, stateFetches: number, stateExports: number, treesReadAhead: number, peers: Array<{ address: string, bytesIn: number, objectsIn: number }>, banned: Array<{ key: string }> }> } } }> {
  return JSON.parse(await mustG(who, ['status', '--json']))
}

async function mountKey (who: string, dir: string, ...args: string[]): Promise<Record<string, unknown>> {
  await mkdir(dir, { recursive: true })
  const out = await mustG(who, ['mount', '--json', key, dir, ...args])
  mounts.push([homes[who], dir])
  return JSON.parse(out) as Record<string, unknown>
}

/** Removes one object from a store (C's daemon is stopped): loose, or by packing all the rest anew with stock git. */
async function dropObject (gitDir: string, id: string): Promise<void> {
  const f = await import('node:fs/promises')
  await f.rm(join(gitDir, 'objects', id.slice(0, 2), id.slice(2)), { force: true })
  const packDir = join(gitDir, 'objects', 'pack')
  const old = await readdir(packDir)
  const all = (await must('git', ['--git-dir', gitDir, 'cat-file', '--batch-all-objects', '--batch-check=%(objectname)'])).trim().split('\n')
  if (!all.includes(id)) return
  const name = (await must('git', ['--git-dir', gitDir, 'pack-objects', '-q', join(packDir, 'pack')], { input: all.filter(x => x !== id).join('\n') + '\n' })).trim()
  for (const n of old) if (!n.includes(name)) await f.rm(join(packDir, n))
  assert.notEqual((await run('git', ['--git-dir', gitDir, 'cat-file', '-e', id])).code, 0)
}

before(async () => {
  tmp = await tempDir('swarm')
  for (const who of ['dht', 'a', 'b', 'c']) homes[who] = join(tmp.path, who)
  repo = join(tmp.path, 'site')
  await mkdir(join(repo, 'docs', 'guide'), { recursive: true })
  await mkdir(join(repo, 'bin'), { recursive: true })
  await git(repo, 'init', '-q')
  await writeFile(join(repo, 'index.html'), '<h1>gtfs</h1>\n')
  await writeFile(join(repo, 'docs', 'guide', 'intro.md'), '# Intro\n'.repeat(200))
  for (let i = 0; i < 40; i++) await writeFile(join(repo, 'docs', `page${i}.html`), `<p>page ${i}</p>\n`.repeat(i + 1))
  const big = Buffer.alloc(3 * 2 ** 20 + 17)
  for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251
  await writeFile(join(repo, 'big.bin'), big)
  await writeFile(join(repo, 'bin', 'hello'), '#!/bin/sh\necho hello from the swarm\n')
  await chmod(join(repo, 'bin', 'hello'), 0o755)
  await import('node:fs/promises').then(async f => { await f.symlink('docs/guide/intro.md', join(repo, 'README.md')) })
  await git(repo, 'add', '-A')
  await git(repo, 'commit', '-qm', 'v1')

  dht = await startJsonProcess(process.execPath, [GTFS, 'dht-node', '--json', '--host', '127.0.0.1', '--bootstrap', 'none'], gtfsEnv(homes.dht))
  helpers.push(dht)
  env = { GTFS_BOOTSTRAP: `127.0.0.1:${String(dht.ready.port)}`, GTFS_FOLLOW_MS: '1000', GTFS_LISTEN_HOST: '127.0.0.1' }
})

after(async () => {
  for (const [home, dir] of mounts) await forceUnmount(home, dir)
  for (const who of ['a', 'b', 'c']) await stopDaemon(homes[who])
  for (const h of helpers) await h.stop()
  await tmp.remove()
})

test('A publishes; B mounts by key with an empty cache and reads it all; C gets it from B with A gone', async () => {
  const fpr = (await mustG('a', ['key', 'generate', '--name', 'Publisher', '--email', 'pub@example.org'])).trim()
  key = (await mustG('a', ['init', repo, '--signer', fpr])).trim()
  await mustG('a', ['publish', repo, '--expires', '1h'])
  const seeded = JSON.parse(await mustG('a', ['seed', '--json'])) as { seeding: string[], wirePort: number }
  const seededAt = Date.now()
  assert.deepEqual(seeded.seeding, [key])
  // The seeder makes the state bundle it serves before anyone asks, so the
  // first reader's request does not wait for the export (and openpgp's load).
  const made = async (): Promise<number> => (await status('a')).daemon.swarm.repos.find(r => r.repo === key)?.stateExports ?? 0
  const madeBy = Date.now() + 10_000
  while (await made() === 0 && Date.now() < madeBy) await new Promise(resolve => setTimeout(resolve, 100))
  assert.equal(await made(), 1, 'A made its state bundle once, before any reader asked')
  // ... and then read the signed commit's trees once, so the first structure request is served warm
  // (the distinct trees of HEAD's tree, as the walk counts them; the repo has one ref)
  const trees = (await git(repo, 'rev-list', '--objects', '--no-walk', '--filter=object:type=tree', '--filter-provided-objects', '--no-object-names', 'HEAD')).split('\n').filter(Boolean).length
  assert.ok(trees > 1)
  const readAhead = async (): Promise<number> => (await status('a')).daemon.swarm.repos.find(r => r.repo === key)?.treesReadAhead ?? 0
  await until('A read its trees ahead', 10_000, async () => await readAhead() === trees)
  assert.equal(await readAhead(), trees, 'A read each tree of the signed commit once')

  // A hostile peer in the same swarm: every object it sends is corrupted.
  const liar = await startJsonProcess(process.execPath, ['--import', 'tsx', join(ROOT, 'test/helpers/swarm-peers.ts'), key, 'corrupt'], { ...process.env, ...env, GTFS_TEST: '1' })
  helpers.push(liar)

  // A bundle made within 2 s of a keyring change (the key made above) is not
  // kept; A makes it again once it can be, so the first reader does not wait for it.
  await new Promise(resolve => setTimeout(resolve, Math.max(0, seededAt + 2_500 - Date.now())))
  const exportsBefore = await made()

  const mb = join(tmp.path, 'mb')
  const m = await mountKey('b', mb)
  assert.equal(m.repo, key)
  assert.equal(await made(), exportsBefore, 'B\'s state came from the bundle A kept, not made on its request')
  // how the mount came to be, in order: state, verified, trees, view, mounted (ms)
  const t = m.timings as Record<string, number>
  const steps = [t.stateMs, t.verifiedMs, t.treesMs, t.viewMs, t.mountedMs]
  assert.ok(steps.every(ms => Number.isInteger(ms) && ms >= 0) && steps.every((ms, i) => i === 0 || ms >= steps[i - 1]), `timings in order: ${JSON.stringify(t)}`)
  const statusText = await mustG('b', ['status'])
  assert.match(statusText, new RegExp(`mounted in ${t.mountedMs} ms: peers' state at ${t.stateMs}, verified at ${t.verifiedMs}, every tree at ${t.treesMs}\n`))
  // the daemon paces its GC by whether it fetches (daemon/gc-pacing.ts): 45 at rest, 100 while
  // fetching, V8's own growth (not shown) until its first decision, a second after it started
  let paced = statusText
  for (let i = 0; i < 30 && !/may grow/.test(paced); i++) {
    await new Promise(resolve => setTimeout(resolve, 100))
    paced = await mustG('b', ['status'])
  }
  assert.match(paced, /JS heap \d+ MiB \(may grow (45|100)% between full GCs\)/)
  assert.deepEqual(await contents(mb), await archive('HEAD'), 'B reads every file byte for byte')
  assert.equal((await run(join(mb, 'bin', 'hello'), [])).stdout, 'hello from the swarm\n')

  const sb = (await status('b')).daemon.swarm.repos.find(r => r.repo === key)!
  const fromA = sb.peers.find(p => p.address === `127.0.0.1:${seeded.wirePort}`)
  assert.ok(fromA !== undefined && fromA.objectsIn > 0, `B's status shows objects from A: ${JSON.stringify(sb.peers)}`)
  const liarAddr = `127.0.0.1:${String(liar.ready.port)}`
  assert.ok(sb.banned.some(b => b.key === liarAddr), `the peer that sent corrupted objects ends banned: ${JSON.stringify(sb)}`)
  const fsck = await run('git', ['--git-dir', join(homes.b, 'data', 'store'), 'fsck', '--no-dangling'])
  assert.equal(fsck.code, 0, `B's store passes git fsck: ${fsck.stderr}`)

  // Following checks the DHT pointer (GTFS_FOLLOW_MS=1000 here): while it names
  // the manifest shown, the peers are not asked for the state again, but for
  // every tenth check. Three checks: at most one state fetch.
  const fetchesBefore = sb.stateFetches
  await new Promise(resolve => setTimeout(resolve, 3200))
  const fetchesAfter = (await status('b')).daemon.swarm.repos.find(r => r.repo === key)!.stateFetches
  assert.ok(fetchesAfter - fetchesBefore <= 1, `an unchanged pointer spares the state fetch: ${fetchesBefore} -> ${fetchesAfter} in 3 checks`)

  // A new manifest reaches the mounted reader; a file held open keeps its bytes.
  const held = await open(join(mb, 'index.html'), 'r')
  try {
    await writeFile(join(repo, 'index.html'), '<h1>gtfs v2</h1>\n')
    await writeFile(join(repo, 'news.html'), '<p>new</p>\n')
    await git(repo, 'add', '-A')
    await git(repo, 'commit', '-qm', 'v2')
    const pub = await mustG('a', ['publish', repo, '--expires', '25s'])
    v2PublishedAt = Date.now()
    assert.match(pub, /the gtfs daemon serves it/)
    await until('B sees the new manifest', 30_000, async () => await stat(join(mb, 'news.html')).then(() => true, () => false))
    const buf = Buffer.alloc(100)
    const { bytesRead } = await held.read(buf, 0, 100, 0)
    assert.equal(buf.subarray(0, bytesRead).toString(), '<h1>gtfs</h1>\n', 'the open file keeps its old bytes')
    assert.equal(await readFile(join(mb, 'index.html'), 'utf8'), '<h1>gtfs v2</h1>\n', 'a new open sees the new content')
  } finally {
    await held.close()
  }
  const v2 = await archive('HEAD')
  assert.deepEqual(await contents(mb), v2)

  // A goes away; C finds B in the DHT and gets everything from it.
  await mustG('a', ['stop'])
  const mc = join(tmp.path, 'mc')
  await mountKey('c', mc, '--pin')
  assert.deepEqual(await contents(mc), v2, 'C reads every file from B')
  const sc = (await status('c')).daemon.swarm.repos.find(r => r.repo === key)!
  assert.ok(sc.peers.some(p => p.objectsIn > 0 && p.address !== `127.0.0.1:${seeded.wirePort}`), `C got objects from B: ${JSON.stringify(sc.peers)}`)
  await mustG('c', ['umount', mc])
  await mustG('b', ['umount', mb])
  await mustG('b', ['stop'])

  // Nobody serves the repo now. C's cache holds every object: an offline mount works.
  await mustG('c', ['stop'])
  const off = await mountKey('c', mc, '--pin')
  assert.equal(off.offline, true)
  assert.equal(await readFile(join(mc, 'news.html'), 'utf8'), '<p>new</p>\n')
  await mustG('c', ['umount', mc])
  await mustG('c', ['stop'])
})

test('offline, missing and expired: EIO within the deadline, ls answers, an expired manifest needs --allow-expired', async () => {
  // An object nobody holds: C lost it, and no peer is left.
  const blob = (await git(repo, 'rev-parse', 'HEAD:docs/page7.html')).trim()
  await dropObject(join(homes.c, 'data', 'store'), blob)
  const mc = join(tmp.path, 'mc2')
  const fast = { GTFS_READ_DEADLINE_MS: '3000' }
  await mkdir(mc, { recursive: true })
  const r = await g('c', ['mount', '--json', key, mc, '--pin'], fast)
  if (r.code !== 0) {
    // The manifest published with --expires 25s may have expired by now.
    assert.equal(errorCode(r), 'EEXPIRED', r.stderr)
    const again = await g('c', ['mount', '--json', key, mc, '--pin', '--allow-expired'], fast)
    assert.equal(again.code, 0, again.stderr)
  }
  mounts.push([homes.c, mc])
  assert.ok((await readdir(mc)).includes('docs'), 'ls answers')
  const t0 = Date.now()
  await assert.rejects(readFile(join(mc, 'docs', 'page7.html')), { code: 'EIO' })
  const took = Date.now() - t0
  assert.ok(took < 3000 + 4000, `EIO came after ${took} ms`)
  assert.ok((await readdir(join(mc, 'docs'))).includes('page7.html'), 'ls still answers')
  const s = JSON.parse((await g('c', ['status', '--json'])).stdout) as { daemon: { warnings: Array<{ message: string }> } }
  assert.ok(s.daemon.warnings.some(w => w.message.includes('page7.html')), 'gtfs status says why')
  await mustG('c', ['umount', mc])

  // Once expired, an offline mount is refused unless --allow-expired.
  await new Promise(resolve => setTimeout(resolve, Math.max(0, v2PublishedAt + 27_000 - Date.now())))
  const exp = await g('c', ['mount', '--json', key, mc, '--pin'], fast)
  assert.equal(errorCode(exp), 'EEXPIRED', exp.stderr)
  const allowed = await g('c', ['mount', '--json', key, mc, '--pin', '--allow-expired'], fast)
  assert.equal(allowed.code, 0, allowed.stderr)
  assert.equal(await readFile(join(mc, 'news.html'), 'utf8'), '<p>new</p>\n')
  await mustG('c', ['umount', mc])
  assert.equal(await isMountpoint(mc), false)
})

/**
 * The automount namespace with real processes on loopback: a publisher seeds
 * a repo of programs, a reader with an empty cache serves `gtfs automount`,
 * and repos appear under it on first access, by key and by alias. Programs
 * run through PATH=<automount>/<key>/usr/bin, their bytes fetched at exec.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, readlink, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { startBinSwarm, HELLO, type BinSwarm } from '../helpers/bin-swarm.ts'
import { errorCode, forceUnmount, isMountpoint } from '../helpers/mounts.ts'
import { run } from '../helpers/run.ts'

let s: BinSwarm
let auto: string

interface Status {
  daemon: {
    mounts: Array<{ dir: string, automount?: { repos: Array<{ name: string, repo: string, signers: string[] }>, failures: Array<{ name: string, code: string }> } }>
    swarm: { repos: Array<{ repo: string, fetched: { objects: number, bytes: number } }> }
  }
}

async function status (): Promise<Status> {
  const r = await s.reader(['status', '--json'])
  assert.equal(r.code, 0, r.stderr)
  return JSON.parse(r.stdout) as Status
}

async function fetchedBytes (): Promise<number> {
  return (await status()).daemon.swarm.repos.find(r => r.repo === s.key)?.fetched.bytes ?? 0
}

before(async () => {
  s = await startBinSwarm('automount', { hello: 'hello', relLink: 'ipcalc', absLink: 'crc32' })
  auto = join(s.tmp, 'gtfs')
  await mkdir(auto)
  const r = await s.reader(['automount', '--json', auto], { GTFS_META_DEADLINE_MS: '15000' })
  assert.equal(r.code, 0, r.stderr)
})

after(async () => {
  if (auto !== undefined) await forceUnmount(s.homes.reader, auto)
  await s?.stop()
})

test('names appear on first access: a key, then an alias; ls lists what is resolved; the rest is ENOENT', async () => {
  assert.deepEqual(await readdir(auto), [], 'an empty namespace lists nothing')
  // Not a key or alias: ENOENT at once, without the network.
  const t0 = Date.now()
  for (const name of ['nope', '.hidden', s.key.toUpperCase(), s.key.slice(1)]) {
    await assert.rejects(stat(join(auto, name)), { code: 'ENOENT' }, name)
  }
  assert.ok(Date.now() - t0 < 2000, `misses took ${Date.now() - t0} ms`)
  assert.deepEqual(await readdir(auto), [])

  // A repo whose manifest this machine refuses (a local trust override naming another signer): EIO, the reason in gtfs status.
  const other = 'AB'.repeat(20)
  assert.equal((await s.reader(['trust', 'set', s.key, '--signer', other])).code, 0)
  await assert.rejects(readdir(join(auto, s.key)), { code: 'EIO' })
  const refused = (await status()).daemon.mounts.find(x => x.dir === auto)!.automount!
  assert.ok(refused.failures.some(f => f.name === s.key && f.code === 'ELOCALTRUST'), JSON.stringify(refused.failures))
  assert.deepEqual(refused.repos, [])
  assert.equal((await s.reader(['trust', 'set', s.key, '--clear'])).code, 0)
  // A failure is answered from memory for a few seconds, then resolution is tried again.
  await new Promise(resolve => setTimeout(resolve, 5_000))

  // A key: the repo is resolved, verified and served below it.
  assert.deepEqual((await readdir(join(auto, s.key))).sort(), ['README', 'usr'])
  assert.equal(await readFile(join(auto, s.key, 'README'), 'utf8'), 'tools\n')
  assert.equal(await readlink(join(auto, s.key, 'usr', 'bin', 'crc32')), '/usr/bin/busybox')
  assert.deepEqual(await readdir(auto), [s.key])
  assert.equal((await stat(join(auto, s.key))).isDirectory(), true)
  assert.notEqual((await stat(join(auto, s.key))).ino, (await stat(auto)).ino)

  // A key nobody serves and this machine never accepted: ENOENT, with the reason in gtfs status.
  const unknown = randomBytes(32).toString('hex')
  await assert.rejects(readdir(join(auto, unknown)), { code: 'ENOENT' })
  let st = await status()
  const m = st.daemon.mounts.find(x => x.dir === auto)!
  assert.ok(m.automount!.failures.some(f => f.name === unknown && f.code === 'ENOPEERS'), JSON.stringify(m.automount))
  assert.deepEqual(m.automount!.repos.map(r => r.name), [s.key])
  assert.ok(m.automount!.repos[0].signers.includes(s.fingerprint), 'the signers of the manifest are known')

  // Aliases: checked names, one file, usable in the namespace at once.
  assert.equal(errorCode(await s.reader(['alias', 'add', '--json', 'bad/name', s.key])), 'EBADALIAS')
  assert.equal(errorCode(await s.reader(['alias', 'add', '--json', unknown, s.key])), 'EBADALIAS')
  assert.equal(errorCode(await s.reader(['alias', 'add', '--json', 'tools', 'not-a-key'])), 'EBADKEY')
  assert.equal((await s.reader(['alias', 'add', 'tools', `gtfs://${s.key}`])).code, 0)
  assert.equal(errorCode(await s.reader(['alias', 'add', '--json', 'tools', unknown])), 'EALIASEXISTS')
  assert.equal((await s.reader(['alias', 'add', 'spare', unknown])).code, 0)
  assert.deepEqual(JSON.parse((await s.reader(['alias', 'list', '--json'])).stdout), { spare: unknown, tools: s.key })
  assert.equal((await s.reader(['alias', 'remove', 'spare'])).code, 0)
  assert.equal(errorCode(await s.reader(['alias', 'remove', '--json', 'spare'])), 'ENOALIAS')
  assert.equal(await readFile(join(auto, 'tools', 'README'), 'utf8'), 'tools\n')
  assert.deepEqual((await readdir(auto)).sort(), [s.key, 'tools'].sort())
  assert.equal((await stat(join(auto, 'tools', 'README'))).ino, (await stat(join(auto, s.key, 'README'))).ino, 'one repo, whichever name')
  st = await status()
  assert.deepEqual(st.daemon.mounts.find(x => x.dir === auto)!.automount!.repos.map(r => r.name).sort(), [s.key, 'tools'].sort())

  // Read-only like every gtfs mount.
  await assert.rejects(mkdir(join(auto, 'new')), { code: 'EROFS' })
  await assert.rejects(mkdir(join(auto, 'tools', 'new')), { code: 'EROFS' })
})

test('programs run through PATH from the namespace; their bytes are fetched at exec, not before', async () => {
  const bin = join(auto, s.key, 'usr', 'bin')
  const hello = await s.blob('usr/bin/hello')
  const busybox = await s.blob('usr/bin/busybox')
  // Listing and stat are metadata: neither program's bytes are here yet, nothing is fetched for them.
  const atStart = await fetchedBytes()
  const names = (await readdir(bin)).sort()
  assert.deepEqual(names, ['busybox', 'crc32', 'hello', 'ipcalc'])
  assert.equal((await stat(join(bin, 'hello'))).size, Buffer.byteLength(HELLO))
  assert.equal((await stat(join(bin, 'busybox'))).mode & 0o777, 0o755)
  assert.equal(await s.readerHas(hello), false, 'hello not fetched by ls/stat')
  assert.equal(await s.readerHas(busybox), false, 'busybox not fetched by ls/stat')
  const before = await fetchedBytes()
  assert.equal(before, atStart, 'ls and stat fetched nothing')

  const env = { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` }
  const r = await run('bash', ['-c', 'hello a "b c"'], { env })
  assert.equal(r.code, 7, r.stderr)
  assert.equal(r.stdout, 'hello from the swarm: a b c\n')
  assert.equal(await s.readerHas(hello), true, 'hello fetched when executed')

  // An ELF program through a relative link (busybox dispatches on the name it was run as).
  const ip = await run('bash', ['-c', 'ipcalc -n 10.1.2.3/8'], { env })
  assert.equal(ip.code, 0, ip.stderr)
  assert.equal(ip.stdout, 'NETWORK=10.0.0.0\n')
  // (Opening hello hints its siblings to the swarm source, so busybox may have come with it.)
  assert.equal(await s.readerHas(busybox), true, 'busybox fetched by the time it ran')
  const fetched = await fetchedBytes() - before
  assert.ok(fetched >= (await stat('/bin/busybox')).size / 3, `the daemon fetched the programs' bytes only from exec on: ${fetched} bytes`)
})

test('gtfs umount stops serving the namespace', async () => {
  const r = await s.reader(['umount', auto])
  assert.equal(r.code, 0, r.stderr)
  assert.equal(await isMountpoint(auto), false)
})

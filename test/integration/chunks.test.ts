/**
 * Large blobs in chunks over a real loopback swarm: A publishes a repo with a
 * 48 MiB random file; R mounts by key with an empty cache and reads 4 KiB at
 * 30 MiB, which waits for a chunk or two, not for the blob; R then reads it
 * all and B does too; C reads it with A, B and R in the swarm and gets chunks
 * from more than one of them.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { forceUnmount, gtfs, gtfsEnv, stopDaemon } from '../helpers/mounts.ts'
import { startJsonProcess, type Running } from '../helpers/processes.ts'
import { git, GTFS, must, tempDir } from '../helpers/run.ts'
import { sha256 } from '../helpers/swarm.ts'

const MiB = 1 << 20
let tmp: Awaited<ReturnType<typeof tempDir>>
let repo: string
let key: string
let blobId: string
let big: Buffer
let dht: Running
const homes: Record<string, string> = {}
const mounts: Array<[string, string]> = []
let env: NodeJS.ProcessEnv

async function mustG (who: string, args: string[]): Promise<string> {
  const r = await gtfs(homes[who], args, env)
  assert.equal(r.code, 0, `${who}: gtfs ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

interface Status { daemon: { swarm: { repos: Array<{ repo: string, peers: Array<{ address: string, bytesIn: number }> }> } } }
async function peersOf (who: string): Promise<Array<{ address: string, bytesIn: number }>> {
  const s = JSON.parse(await mustG(who, ['status', '--json'])) as Status
  return s.daemon.swarm.repos.find(r => r.repo === key)?.peers ?? []
}

async function mountKey (who: string): Promise<string> {
  const dir = join(tmp.path, `m${who}`)
  await mkdir(dir, { recursive: true })
  await mustG(who, ['mount', '--json', key, dir])
  mounts.push([homes[who], dir])
  return dir
}

before(async () => {
  tmp = await tempDir('chunks')
  for (const who of ['dht', 'a', 'r', 'b', 'c']) homes[who] = join(tmp.path, who)
  repo = join(tmp.path, 'media')
  await mkdir(repo, { recursive: true })
  await git(repo, 'init', '-q')
  big = randomBytes(48 * MiB + 12345)
  await writeFile(join(repo, 'big.img'), big)
  await writeFile(join(repo, 'README'), 'one big file\n')
  await git(repo, 'add', '-A')
  await git(repo, 'commit', '-qm', 'v1')
  blobId = (await must('git', ['-C', repo, 'rev-parse', 'HEAD:big.img'])).trim()
  dht = await startJsonProcess(process.execPath, [GTFS, 'dht-node', '--json', '--host', '127.0.0.1', '--bootstrap', 'none'], gtfsEnv(homes.dht))
  env = { GTFS_BOOTSTRAP: `127.0.0.1:${String(dht.ready.port)}`, GTFS_LISTEN_HOST: '127.0.0.1' }
})

after(async () => {
  for (const [home, dir] of mounts) await forceUnmount(home, dir)
  for (const who of ['a', 'r', 'b', 'c']) await stopDaemon(homes[who])
  await dht?.stop()
  await tmp.remove()
})

test('a ranged read of a large file waits for its chunks only; several peers serve one blob', async () => {
  const fpr = (await mustG('a', ['key', 'generate', '--name', 'Publisher', '--email', 'pub@example.org'])).trim()
  key = (await mustG('a', ['init', repo, '--signer', fpr])).trim()
  await mustG('a', ['publish', repo, '--expires', '1h'])
  await mustG('a', ['seed', '--json'])

  const mr = await mountKey('r')
  const at = 30 * MiB + 4096
  const started = Date.now()
  const fh = await open(join(mr, 'big.img'), 'r')
  const buf = Buffer.alloc(4096)
  try {
    const { bytesRead } = await fh.read(buf, 0, 4096, at)
    assert.equal(bytesRead, 4096)
  } finally {
    await fh.close()
  }
  const firstMs = Date.now() - started
  assert.ok(buf.equals(big.subarray(at, at + 4096)), 'the 4 KiB at 30 MiB are the file\'s')
  const partial = await stat(join(homes.r, 'data', 'store', 'objects', 'gtfs-partial', blobId))
  const onDisk = partial.blocks * 512
  const fetched = (await peersOf('r')).reduce((n, p) => n + p.bytesIn, 0)
  process.stderr.write(`# first 4 KiB at 30 MiB in ${firstMs} ms; partial file holds ${onDisk} bytes, ${fetched} bytes came in\n`)
  assert.ok(onDisk < big.length / 4, `R holds ${onDisk} bytes of the ${big.length}-byte blob`)
  assert.ok(fetched < big.length / 4, `R received ${fetched} bytes for it`)

  // R reads it all (and so seeds it whole); B too.
  assert.equal(sha256(await readFile(join(mr, 'big.img'))), sha256(big))
  const loose = join(homes.r, 'data', 'store', 'objects', blobId.slice(0, 2), blobId.slice(2))
  await stat(loose) // sealed into the loose object
  await assert.rejects(stat(join(homes.r, 'data', 'store', 'objects', 'gtfs-partial', blobId)), { code: 'ENOENT' })
  const fsck = await must('git', ['--git-dir', join(homes.r, 'data', 'store'), 'cat-file', '-s', blobId])
  assert.equal(Number(fsck.trim()), big.length)
  const mb = await mountKey('b')
  assert.equal(sha256(await readFile(join(mb, 'big.img'))), sha256(big))

  // C, with A, R and B in the swarm: chunks come from more than one peer.
  const mc = await mountKey('c')
  assert.equal(sha256(await readFile(join(mc, 'big.img'))), sha256(big))
  const peers = await peersOf('c')
  const senders = peers.filter(p => p.bytesIn > 2 * MiB)
  assert.ok(senders.length >= 2, `C got chunks from ${senders.length} peers: ${JSON.stringify(peers)}`)
})

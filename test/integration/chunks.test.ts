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
import { git, must } from '../helpers/run.ts'
import { sha256, Swarm } from '../helpers/swarm.ts'

const MiB = 1 << 20
let s: Swarm
let repo: string
let key: string
let blobId: string
let big: Buffer

async function peersOf (who: string): Promise<Array<{ address: string, bytesIn: number }>> {
  return (await s.repoStatus(who, key))?.peers ?? []
}

async function mountKey (who: string): Promise<string> {
  const dir = join(s.path, `m${who}`)
  await s.mount(who, key, dir)
  return dir
}

before(async () => {
  s = await Swarm.start('chunks')
  repo = join(s.path, 'media')
  await mkdir(repo, { recursive: true })
  await git(repo, 'init', '-q')
  big = randomBytes(48 * MiB + 12345)
  await writeFile(join(repo, 'big.img'), big)
  await writeFile(join(repo, 'README'), 'one big file\n')
  await git(repo, 'add', '-A')
  await git(repo, 'commit', '-qm', 'v1')
  blobId = (await must('git', ['-C', repo, 'rev-parse', 'HEAD:big.img'])).trim()
})

after(async () => { await s.close() })

test('a ranged read of a large file waits for its chunks only; several peers serve one blob', async () => {
  key = await s.publish('a', repo)

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
  const partial = await stat(join(s.home('r'), 'data', 'store', 'objects', 'gtfs-partial', blobId))
  const onDisk = partial.blocks * 512
  const fetched = (await peersOf('r')).reduce((n, p) => n + p.bytesIn, 0)
  process.stderr.write(`# first 4 KiB at 30 MiB in ${firstMs} ms; partial file holds ${onDisk} bytes, ${fetched} bytes came in\n`)
  assert.ok(onDisk < big.length / 4, `R holds ${onDisk} bytes of the ${big.length}-byte blob`)
  assert.ok(fetched < big.length / 4, `R received ${fetched} bytes for it`)

  // R reads it all (and so seeds it whole); B too.
  assert.equal(sha256(await readFile(join(mr, 'big.img'))), sha256(big))
  const loose = join(s.home('r'), 'data', 'store', 'objects', blobId.slice(0, 2), blobId.slice(2))
  await stat(loose) // sealed into the loose object
  await assert.rejects(stat(join(s.home('r'), 'data', 'store', 'objects', 'gtfs-partial', blobId)), { code: 'ENOENT' })
  const fsck = await must('git', ['--git-dir', join(s.home('r'), 'data', 'store'), 'cat-file', '-s', blobId])
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

/**
 * gtfs cache against a loopback swarm: A publishes and seeds; B prefetches a
 * directory, then the rest, through its daemon; stats show packs and pins; gc
 * down to nothing evicts every file's object but keeps the commit and trees
 * (directory listings never need the network); git fsck accepts the store.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errorCode, gtfs, gtfsEnv, stopDaemon } from '../helpers/mounts.ts'
import { startJsonProcess, type Running } from '../helpers/processes.ts'
import { git, GTFS, run, tempDir } from '../helpers/run.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let repo: string
let dht: Running
const homes: Record<string, string> = {}
let env: NodeJS.ProcessEnv

async function mustG (who: string, args: string[]): Promise<string> {
  const r = await gtfs(homes[who], args, env)
  assert.equal(r.code, 0, `${who}: gtfs ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

before(async () => {
  tmp = await tempDir('cache')
  for (const who of ['dht', 'a', 'b']) homes[who] = join(tmp.path, who)
  repo = join(tmp.path, 'site')
  await mkdir(join(repo, 'docs', 'guide'), { recursive: true })
  await git(repo, 'init', '-q')
  await writeFile(join(repo, 'index.html'), '<h1>gtfs</h1>\n')
  await writeFile(join(repo, 'docs', 'guide', 'intro.md'), '# Intro\n'.repeat(200))
  for (let i = 0; i < 40; i++) await writeFile(join(repo, 'docs', `page${i}.html`), `<p>page ${i}</p>\n`.repeat(i + 1))
  await writeFile(join(repo, 'big.bin'), Buffer.alloc(300_000, 7))
  await git(repo, 'add', '-A')
  await git(repo, 'commit', '-qm', 'v1')
  dht = await startJsonProcess(process.execPath, [GTFS, 'dht-node', '--json', '--host', '127.0.0.1', '--bootstrap', 'none'], gtfsEnv(homes.dht))
  env = { GTFS_BOOTSTRAP: `127.0.0.1:${String(dht.ready.port)}`, GTFS_LISTEN_HOST: '127.0.0.1', GTFS_STORE_KEEP_RECENT_MS: '0' }
})

after(async () => {
  for (const who of ['a', 'b']) await stopDaemon(homes[who])
  await dht?.stop()
  await tmp.remove()
})

test('prefetch fills the store through the swarm; stats count it; gc evicts all but the pins', async () => {
  const fpr = (await mustG('a', ['key', 'generate', '--name', 'Publisher', '--email', 'pub@example.org'])).trim()
  const key = (await mustG('a', ['init', repo, '--signer', fpr])).trim()
  await mustG('a', ['publish', repo, '--expires', '1h'])
  await mustG('a', ['seed'])

  // A missing path fails with its code, before anything is fetched.
  const bad = await gtfs(homes.b, ['cache', 'prefetch', key, 'no/such', '--json'], env)
  assert.equal(errorCode(bad), 'ENOENT', bad.stderr)

  const docs = JSON.parse(await mustG('b', ['cache', 'prefetch', key, 'docs', '--json'])) as Record<string, any>
  assert.equal(docs.path, '/docs')
  assert.equal(docs.total.objects, 41)
  assert.equal(docs.fetched.objects, 41)
  assert.equal(docs.error, null)
  const all = JSON.parse(await mustG('b', ['cache', 'prefetch', key, '--json'])) as Record<string, any>
  assert.equal(all.total.objects, 43)
  assert.equal(all.present.objects, 41)
  assert.equal(all.fetched.objects, 2)
  assert.equal(all.fetched.bytes, 300_000 + 14)
  // Without --json and a TTY: plain lines, then a summary.
  const again = await mustG('b', ['cache', 'prefetch', key, 'docs'])
  assert.match(again, /fetched 0 objects .*41 were already here/)

  const stats = JSON.parse(await mustG('b', ['cache', 'stats', '--json'])) as Record<string, any>
  const u = stats.usage
  assert.ok(u.loose.objects + u.packed.objects + u.held.objects >= 43 + 5, JSON.stringify(u))
  assert.equal(stats.quotaBytes, 10 * 2 ** 30)
  assert.deepEqual(stats.compacted, { runs: 0, packs: 0 })
  const mine = stats.repos.find((r: { repo: string }) => r.repo === key)
  assert.ok(mine !== undefined && mine.objects >= 4, `commit and 3 trees pinned: ${JSON.stringify(stats.repos)}`)
  assert.ok(stats.documents > 0)
  assert.deepEqual(stats.unpacked, { dir: join(homes.b, 'cache', 'unpacked'), files: 0, bytes: 0, budgetBytes: 4 * 2 ** 30 }, 'no blob here is large enough for a plain copy')

  const gc = JSON.parse(await mustG('b', ['cache', 'gc', '--max-size', '1', '--json'])) as Record<string, any>
  assert.ok(gc.freedBytes > 0, JSON.stringify(gc))
  assert.equal(gc.overQuota, true)
  assert.ok(gc.after.pinnedObjects >= mine.objects + stats.documents, JSON.stringify(gc.after))

  const store = join(homes.b, 'data', 'store')
  const head = (await git(repo, 'rev-parse', 'HEAD')).trim()
  const tree = (await git(repo, 'rev-parse', 'HEAD:docs/guide')).trim()
  const page = (await git(repo, 'rev-parse', 'HEAD:docs/page3.html')).trim()
  // The daemon may still hold the store's packs open; git reads them all the same.
  assert.equal((await run('git', ['--git-dir', store, 'cat-file', '-e', head])).code, 0, 'the commit is kept')
  assert.equal((await run('git', ['--git-dir', store, 'cat-file', '-e', tree])).code, 0, 'its trees are kept')
  assert.notEqual((await run('git', ['--git-dir', store, 'cat-file', '-e', page])).code, 0, 'file contents are evicted')
  const fsck = await run('git', ['--git-dir', store, 'fsck', '--no-dangling', '--connectivity-only'])
  assert.equal(fsck.code, 0, fsck.stderr)

  // Prefetch brings the evicted contents back.
  const back = JSON.parse(await mustG('b', ['cache', 'prefetch', key, 'docs', '--json'])) as Record<string, any>
  assert.equal(back.fetched.objects, 41)
  assert.equal((await run('git', ['--git-dir', store, 'cat-file', '-e', page])).code, 0)

  // Stats and gc work without a daemon too.
  await stopDaemon(homes.b)
  const offline = JSON.parse(await mustG('b', ['cache', 'stats', '--json'])) as Record<string, any>
  assert.equal(offline.written, null)
  assert.equal(offline.compacted, null)
  assert.ok(offline.usage.packed.objects + offline.usage.loose.objects >= 43)
  const text = await mustG('b', ['cache', 'stats'])
  assert.match(text, /quota/)
  assert.match(text, /plain copies of large blobs: 0 files, 0 B of a 4\.00 GiB budget/)
})

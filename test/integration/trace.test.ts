/**
 * `gtfs publish --trace -- <cmd>`: the files the command opens, in order, go
 * into the catalog; a reader that mounts the repo by key fetches exactly those
 * right after mounting, before anything reads them. Real processes on
 * loopback: a DHT node, A publishes and seeds, B mounts.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errorCode, forceUnmount, gtfs, gtfsEnv, stopDaemon } from '../helpers/mounts.ts'
import { startJsonProcess, type Running } from '../helpers/processes.ts'
import { git, GTFS, run, tempDir } from '../helpers/run.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let repo: string
let dht: Running | undefined
const homes: Record<string, string> = {}
const mounts: Array<[string, string]> = []
let env: NodeJS.ProcessEnv

async function mustG (who: string, args: string[]): Promise<string> {
  const r = await gtfs(homes[who], args, env)
  assert.equal(r.code, 0, `${who}: gtfs ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

async function blobId (path: string): Promise<string> {
  return (await run('git', ['-C', repo, 'rev-parse', `HEAD:${path}`])).stdout.trim()
}

/** Whether `id` is in the object store of `who`'s gtfs home. */
async function held (who: string, id: string): Promise<boolean> {
  return (await run('git', ['--git-dir', join(homes[who], 'data', 'store'), 'cat-file', '-e', id])).code === 0
}

before(async () => {
  tmp = await tempDir('trace')
  for (const who of ['dht', 'a', 'b']) homes[who] = join(tmp.path, who)
  repo = join(tmp.path, 'app')
  for (const d of ['lib', 'share', 'docs']) await mkdir(join(repo, d), { recursive: true })
  await git(repo, 'init', '-q')
  for (let i = 0; i < 20; i++) {
    await writeFile(join(repo, 'lib', `mod${i}.js`), `module ${i}\n`.repeat(i + 1))
    await writeFile(join(repo, 'docs', `page${i}.md`), `# page ${i}\n`)
  }
  await writeFile(join(repo, 'share', 'data.bin'), Buffer.alloc(50_000, 7))
  await writeFile(join(repo, 'start.sh'), '#!/bin/sh\necho started\n')
  await git(repo, 'add', '-A')
  await git(repo, 'commit', '-qm', 'v1')
  dht = await startJsonProcess(process.execPath, [GTFS, 'dht-node', '--json', '--host', '127.0.0.1', '--bootstrap', 'none'], gtfsEnv(homes.dht))
  env = { GTFS_BOOTSTRAP: `127.0.0.1:${String(dht.ready.port)}`, GTFS_LISTEN_HOST: '127.0.0.1' }
})

after(async () => {
  for (const [home, dir] of mounts) await forceUnmount(home, dir)
  for (const who of ['a', 'b']) await stopDaemon(homes[who])
  await dht?.stop()
  await tmp.remove()
})

test('publish --trace stores the opened files in order; a reader fetches them right after mounting', async () => {
  const fpr = (await mustG('a', ['key', 'generate', '--name', 'Publisher', '--email', 'pub@example.org'])).trim()
  const key = (await mustG('a', ['init', repo, '--signer', fpr])).trim()

  // usage errors and a failing command publish nothing
  const noCmd = await gtfs(homes.a, ['publish', repo, '--trace', '--json'], env)
  assert.equal(errorCode(noCmd), 'EUSAGE', noCmd.stderr)
  const failing = await gtfs(homes.a, ['publish', repo, '--json', '--trace', '--', 'sh', '-c', 'cat start.sh >/dev/null; exit 3'], env)
  assert.equal(errorCode(failing), 'ETRACE', failing.stderr)

  // relative paths from the working directory, absolute ones through GTFS_TRACE_DIR; a second open and
  // a directory listing add nothing; a file that does not exist is no open
  const script = 'cat lib/mod7.js share/data.bin >/dev/null; ls docs >/dev/null; cat "$GTFS_TRACE_DIR/start.sh" lib/mod7.js >/dev/null; cat nope 2>/dev/null; true'
  const out = JSON.parse(await mustG('a', ['publish', repo, '--json', '--trace', '--', 'sh', '-c', script])) as { traced: number, seq: number }
  assert.equal(out.traced, 3)
  assert.equal(out.seq, 1)
  // the catalog B will verify names them in the order of their first open
  const records = JSON.parse(await readFile(join(homes.a, 'data', 'repos', key, 'records.json'), 'utf8')) as { catalogs: Record<string, string> }
  const blobs = Object.values(records.catalogs)
  assert.equal(blobs.length, 1)
  const catalog = JSON.parse((await run('git', ['--git-dir', join(homes.a, 'data', 'store'), 'cat-file', 'blob', blobs[0]])).stdout) as { prefetch: string[] }
  assert.deepEqual(catalog.prefetch, ['/lib/mod7.js', '/share/data.bin', '/start.sh'])

  await mustG('a', ['seed'])
  const mnt = join(tmp.path, 'mnt-b')
  await mkdir(mnt, { recursive: true })
  await mustG('b', ['mount', key, mnt])
  mounts.push([homes.b, mnt])
  const traced = await Promise.all(['lib/mod7.js', 'share/data.bin', 'start.sh'].map(blobId))
  const end = Date.now() + 20_000
  while (Date.now() < end && !(await Promise.all(traced.map(async id => await held('b', id)))).every(Boolean)) {
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  for (const id of traced) assert.ok(await held('b', id), `traced blob ${id} was fetched after the mount, unasked`)
  // nothing else was: no file of the mount has been read
  for (const other of ['lib/mod8.js', 'docs/page3.md']) assert.ok(!(await held('b', await blobId(other))), `${other} was not traced`)
})

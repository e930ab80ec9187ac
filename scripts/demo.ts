/**
 * npm run demo: gtfs end to end on this machine, over loopback only.
 *
 * A private DHT on 127.0.0.1; a publisher signs a sample repo (a small website
 * with docs, and a busybox root filesystem) and seeds it; two more nodes fetch
 * it and seed it too; then a reader with an empty cache mounts it by its repo
 * key alone, lists it, reads a page, runs a program from it, and shows which
 * peers the bytes came from. Everything started here is stopped, and the
 * temporary directory removed, at the end.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const GTFS = join(ROOT, 'bin', 'gtfs')

function step (msg: string): void { process.stdout.write(`\n== ${msg}\n`) }
function show (text: string): void { process.stdout.write(text.replace(/\n$/, '').replace(/^/gm, '   ') + '\n') }

async function sampleRepo (dir: string): Promise<void> {
  await mkdir(join(dir, 'site', 'docs'), { recursive: true })
  await writeFile(join(dir, 'site', 'index.html'), '<!doctype html>\n<title>gtfs</title>\n<h1>gtfs</h1>\n<p>This page came from the swarm, verified by hash, signed by its publisher.</p>\n<a href="docs/mount.html">How to mount</a>\n')
  await writeFile(join(dir, 'site', 'docs', 'mount.html'), '<h1>Mounting</h1>\n<pre>gtfs mount &lt;key&gt; /mnt/x</pre>\n')
  await writeFile(join(dir, 'site', 'docs', 'publish.html'), '<h1>Publishing</h1>\n<pre>gtfs init . --signer &lt;fpr&gt;; gtfs publish .; gtfs seed</pre>\n')
  const root = join(dir, 'rootfs')
  for (const d of ['bin', 'etc', 'tmp']) await mkdir(join(root, d), { recursive: true })
  await copyFile('/bin/busybox', join(root, 'bin', 'busybox'))
  await chmod(join(root, 'bin', 'busybox'), 0o755)
  for (const app of ['sh', 'ls', 'cat', 'echo', 'uname', 'id']) await symlink('busybox', join(root, 'bin', app))
  await writeFile(join(root, 'etc', 'os-release'), 'NAME="gtfs demo"\nID=gtfs-demo\n')
  await writeFile(join(root, 'tmp', '.keep'), '')
  const gitc = async (...args: string[]): Promise<void> => { await run('git', ['-C', dir, '-c', 'user.name=Demo Publisher', '-c', 'user.email=demo@example.org', ...args]) }
  await gitc('init', '-q', '-b', 'main')
  await gitc('add', '-A')
  await gitc('commit', '-qm', 'sample: a website and a busybox root filesystem')
}

async function main (): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'gtfs-demo-'))
  const bootstrapHome = join(work, 'dht')
  const children: ChildProcess[] = []
  const homes = ['publisher', 'seeder-2', 'seeder-3', 'reader'].map(n => join(work, n))
  // GTFS_TEST=1: no node may fall back to the public bootstrap routers; everything stays on loopback.
  let env: NodeJS.ProcessEnv = { ...process.env, GTFS_LISTEN_HOST: '127.0.0.1', GTFS_TEST: '1' }
  const gtfs = async (home: string, ...args: string[]): Promise<string> =>
    (await run(process.execPath, [GTFS, ...args], { env: { ...env, GTFS_HOME: home }, maxBuffer: 2 ** 24 })).stdout
  const mounted: Array<[string, string]> = []
  try {
    step('starting a private DHT on loopback (gtfs dht-node)')
    const dht = spawn(process.execPath, [GTFS, 'dht-node', '--host', '127.0.0.1', '--bootstrap', 'none'], { env: { ...env, GTFS_HOME: bootstrapHome }, stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(dht)
    const port = await new Promise<string>((resolve, reject) => {
      let out = ''
      dht.stdout!.on('data', (c: Buffer) => { out += c.toString(); const m = /127\.0\.0\.1:(\d+)/.exec(out); if (m) resolve(m[1]) })
      dht.once('exit', code => { reject(new Error(`dht-node exited ${code}`)) })
    })
    env = { ...env, GTFS_BOOTSTRAP: `127.0.0.1:${port}` }
    show(`bootstrap node 127.0.0.1:${port}; every node below joins through it`)

    const repo = join(work, 'sample')
    step(`making a sample repo in ${repo}: a website with docs, and a busybox root filesystem`)
    await sampleRepo(repo)
    show((await run('git', ['-C', repo, 'ls-tree', '-r', '--name-only', 'HEAD'])).stdout)

    step('publisher: a signing key, a trust policy, a signed manifest, and seeding')
    const fpr = (await gtfs(homes[0], 'key', 'generate', '--name', 'Demo Publisher', '--email', 'demo@example.org')).trim()
    show(`signer ${fpr}`)
    const key = (await gtfs(homes[0], 'init', repo, '--signer', fpr)).trim()
    show(`repo key ${key}`)
    show(await gtfs(homes[0], 'publish', repo))
    show(await gtfs(homes[0], 'seed'))

    for (const home of homes.slice(1, 3)) {
      const name = home.slice(home.lastIndexOf('/') + 1)
      step(`${name}: mounts the repo by its key, reads it all, and keeps seeding it`)
      const dir = join(work, `mnt-${name}`)
      await mkdir(dir)
      show(await gtfs(home, 'mount', key, dir))
      mounted.push([home, dir])
      const files = (await run('find', [dir, '-type', 'f'])).stdout.trim().split('\n')
      for (const f of files) await readFile(f)
      show(`read ${files.length} files`)
      show(await gtfs(home, 'umount', dir))
      mounted.pop()
    }

    const reader = homes[3]
    const mnt = join(work, 'mnt')
    await mkdir(mnt)
    step(`reader: an empty cache and nothing but the repo key: gtfs mount ${key.slice(0, 16)}… ${mnt}`)
    const t0 = performance.now()
    show(await gtfs(reader, 'mount', key, mnt))
    mounted.push([reader, mnt])
    show(`mounted in ${(performance.now() - t0).toFixed(0)} ms`)

    step('ls -R of the mount (the listing needs no file contents)')
    show((await run('ls', ['-lR', mnt])).stdout)

    step('reading site/index.html')
    show(await readFile(join(mnt, 'site', 'index.html'), 'utf8'))

    step('running rootfs/bin/busybox from the mount: its bytes are fetched when it is executed')
    show((await run(join(mnt, 'rootfs', 'bin', 'busybox'), ['sh', '-c', 'echo "hello from busybox $(busybox | head -1 | cut -d" " -f2)"; cat ' + join(mnt, 'rootfs', 'etc', 'os-release')])).stdout)

    step('writing is refused: the mount is read-only')
    show(await run('touch', [join(mnt, 'new-file')]).then(() => 'touch succeeded?!', (e: { stderr: string }) => e.stderr))

    step('gtfs status: peers, and the bytes each one sent')
    show(await gtfs(reader, 'status'))

    step('cleaning up: unmount, stop every daemon and the DHT node')
    show(await gtfs(reader, 'umount', mnt))
    mounted.pop()
    process.stdout.write('\ndemo: done\n')
  } finally {
    for (const [home, dir] of mounted) {
      await run(process.execPath, [GTFS, 'umount', dir], { env: { ...env, GTFS_HOME: home } }).catch(async () => await run('fusermount', ['-uz', dir]).catch(() => {}))
    }
    for (const home of homes) await run(process.execPath, [GTFS, 'stop'], { env: { ...env, GTFS_HOME: home } }).catch(() => {})
    for (const c of children) c.kill('SIGTERM')
    await Promise.all(children.map(async c => { if (c.exitCode === null && c.signalCode === null) await new Promise(resolve => c.once('exit', resolve)) }))
    await rm(work, { recursive: true, force: true })
  }
}

main().catch((err: Error & { stderr?: string }) => {
  process.stderr.write(`demo: failed: ${err.message}\n${err.stderr ?? ''}`)
  process.exitCode = 1
})

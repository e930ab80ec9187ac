/**
 * Real mounts of the fixture repository through the CLI, compared with
 * `git archive | tar -x` of the same tree, and real syscalls against them.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { constants } from 'node:fs'
import { lstat, mkdir, open, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errorCode, forceUnmount, gtfs, isMountpoint, stopDaemon } from '../helpers/mounts.ts'
import { git, must, ROOT, run, tempDir, waitUntil } from '../helpers/run.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let repo: string
let home: string
let expected: string
let mnt: string
let mainCommit: string
const mounted: string[] = []

async function mountCli (dir: string, ...args: string[]): Promise<{ pid: number, commit: string }> {
  const r = await gtfs(home, ['mount', '--json', '--git-dir', repo, ...args, dir])
  assert.equal(r.code, 0, r.stderr)
  mounted.push(dir)
  return JSON.parse(r.stdout) as { pid: number, commit: string }
}

/** Every path below `dir`, relative, sorted. */
async function walk (dir: string, rel = ''): Promise<string[]> {
  const out: string[] = []
  for (const name of (await readdir(join(dir, rel))).sort()) {
    const p = rel === '' ? name : `${rel}/${name}`
    out.push(p)
    if ((await lstat(join(dir, p))).isDirectory()) out.push(...await walk(dir, p))
  }
  return out
}

async function sha256 (path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex')
}

/**
 * `gtfs mount -f --fuse-debug` of main at `name` under tmp: every FUSE request
 * it gets shows in `debug()`; `stop()` sends SIGINT and gives the exit code.
 */
async function debugMount (name: string, env: Record<string, string> = {}): Promise<{ dir: string, pid: number, debug: () => string, stop: () => Promise<number | null> }> {
  const { spawn } = await import('node:child_process')
  const { gtfsEnv } = await import('../helpers/mounts.ts')
  const dir = join(tmp.path, name)
  await mkdir(dir)
  mounted.push(dir)
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'gtfs'), 'mount', '-f', '--fuse-debug', '--git-dir', repo, '--ref', 'main', dir], { env: { ...gtfsEnv(home), ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => { resolve(code) }))
  const stop = async (): Promise<number | null> => { child.kill('SIGINT'); return await exited }
  let out = ''
  let debug = ''
  child.stderr.on('data', (c: Buffer) => { debug += c.toString() })
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`not mounted: ${out}`)) }, 30_000)
      child.stdout.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('Ctrl-C')) { clearTimeout(timer); resolve() } })
    })
  } catch (err) {
    await stop()
    throw err
  }
  return { dir, pid: child.pid!, debug: () => debug, stop }
}

before(async () => {
  tmp = await tempDir('fuse')
  repo = join(tmp.path, 'repo')
  home = join(tmp.path, 'home')
  expected = join(tmp.path, 'expected')
  mnt = join(tmp.path, 'mnt')
  await must('bash', [join(ROOT, 'scripts', 'make-fixture.sh'), repo], { timeoutMs: 180_000 })
  mainCommit = (await git(repo, 'rev-parse', 'main')).trim()
  await mkdir(expected)
  await mkdir(mnt)
  // git archive refuses trees with unsafe names; main-safe is main without them (see make-fixture.sh).
  await must('bash', ['-c', 'git -C "$1" -c tar.umask=022 archive refs/fixture/main-safe | tar -x -C "$2"', '_', repo, expected])
})

after(async () => {
  for (const dir of mounted) await forceUnmount(home, dir)
  await stopDaemon(home)
  await tmp.remove()
})

describe('a mounted commit', () => {
  before(async () => {
    const r = await mountCli(mnt, '--ref', 'main')
    assert.equal(r.commit, mainCommit)
    assert.ok(await isMountpoint(mnt), 'gtfs mount returns once the mount is ready')
  })

  test('32 concurrent readers of the 64 MiB file get identical bytes', async () => {
    const file = join(mnt, 'big', 'blob.bin')
    const want = await sha256(join(expected, 'big', 'blob.bin'))
    const sums = await Promise.all(Array.from({ length: 32 }, async () => (await must('sha256sum', [file])).split(' ')[0]))
    assert.equal(new Set(sums).size, 1)
    assert.equal(sums[0], want)
  })

  test('matches git archive: same paths, types, modes, sizes, bytes and symlink targets', async () => {
    const want = await walk(expected)
    const got = await walk(mnt)
    assert.deepEqual(got, want)
    const commitTime = Number((await git(repo, 'log', '-1', '--format=%ct', 'main')).trim())
    for (const p of want) {
      const a = await lstat(join(expected, p))
      const b = await lstat(join(mnt, p))
      assert.equal(b.mode.toString(8), a.mode.toString(8), `mode of ${p}`)
      assert.equal(b.mtimeMs, commitTime * 1000, `mtime of ${p} is the commit time`)
      if (a.isSymbolicLink()) {
        assert.equal(await readlink(join(mnt, p)), await readlink(join(expected, p)), `target of ${p}`)
      } else if (a.isFile()) {
        assert.equal(b.size, a.size, `size of ${p}`)
        assert.equal(await sha256(join(mnt, p)), await sha256(join(expected, p)), `bytes of ${p}`)
      }
    }
  })

  test('the fixture has what the view must handle', async () => {
    assert.equal((await readdir(join(mnt, 'many'))).length, 5000)
    assert.ok((await stat(join(mnt, 'deep/d01/d02/d03/d04/d05/d06/d07/d08/d09/d10/d11/d12/d13/d14/d15/d16/d17/d18/d19/d20/leaf.txt'))).isFile())
    assert.equal((await stat(join(mnt, 'bin', 'run.sh'))).mode & 0o777, 0o755)
    assert.equal((await must(join(mnt, 'bin', 'run.sh'), [])).trim(), 'hello from gtfs')
    assert.equal(await readlink(join(mnt, 'links', 'dangling')), 'does/not/exist')
    assert.equal((await readFile(join(mnt, 'names', '日本語.md'))).length > 0, true)
    assert.equal((await stat(join(mnt, 'EMPTY'))).size, 0)
  })

  test('unsafe tree entries are absent; a gitlink is an empty read-only directory', async () => {
    assert.deepEqual((await readdir(join(mnt, 'unsafe'))).sort(), ['ok.txt'])
    for (const name of ['..', '.git', '.GIT', 'git~1', 'a']) {
      if (name === '..') continue // ".." is the parent, by the kernel
      await assert.rejects(lstat(join(mnt, 'unsafe', name)), { code: 'ENOENT' }, name)
    }
    assert.equal((await readFile(join(mnt, '..', 'escaped.txt')).catch(() => null)), null)
    const sub = await stat(join(mnt, 'vendor', 'sub'))
    assert.ok(sub.isDirectory())
    assert.deepEqual(await readdir(join(mnt, 'vendor', 'sub')), [])
    await assert.rejects(writeFile(join(mnt, 'vendor', 'sub', 'x'), ''), { code: 'EROFS' })
  })

  test('every write syscall gives EROFS', async () => {
    const file = join(mnt, 'README.md')
    const py = (code: string): Promise<{ code: number, stderr: string }> => run('python3', ['-c', code])
    await assert.rejects(open(join(mnt, 'new.txt'), 'w'), { code: 'EROFS' }, 'create')
    await assert.rejects(open(file, 'r+'), { code: 'EROFS' }, 'open for writing')
    await assert.rejects(writeFile(file, 'x'), { code: 'EROFS' }, 'write')
    await assert.rejects(mkdir(join(mnt, 'newdir')), { code: 'EROFS' }, 'mkdir')
    const fsp = await import('node:fs/promises')
    await assert.rejects(fsp.unlink(file), { code: 'EROFS' }, 'unlink')
    await assert.rejects(fsp.rmdir(join(mnt, 'empty')), { code: 'EROFS' }, 'rmdir')
    await assert.rejects(fsp.rename(file, join(mnt, 'moved')), { code: 'EROFS' }, 'rename')
    await assert.rejects(fsp.chmod(file, 0o600), { code: 'EROFS' }, 'chmod')
    await assert.rejects(fsp.chown(file, 1, 1), { code: 'EROFS' }, 'chown')
    await assert.rejects(fsp.truncate(file, 0), { code: 'EROFS' }, 'truncate')
    await assert.rejects(fsp.symlink('x', join(mnt, 'sl')), { code: 'EROFS' }, 'symlink')
    await assert.rejects(fsp.link(file, join(mnt, 'hl')), { code: 'EROFS' }, 'link')
    await assert.rejects(fsp.utimes(file, 1, 1), { code: 'EROFS' }, 'utimes')
    const r = await py(`import os,errno\ntry:\n  os.setxattr(${JSON.stringify(file)}, 'user.x', b'1')\nexcept OSError as e:\n  raise SystemExit(0 if e.errno == errno.EROFS else e.errno)\nraise SystemExit(99)`)
    assert.equal(r.code, 0, `setxattr: ${r.stderr}`)
  })

  test('reads at odd offsets and past the end', async () => {
    const want = await readFile(join(expected, 'big', 'blob.bin'))
    const fh = await open(join(mnt, 'big', 'blob.bin'), constants.O_RDONLY)
    try {
      for (const [pos, len] of [[1, 1], [4095, 3], [65_537, 131_071], [want.length - 7, 100], [33_554_431, 1_000_001], [want.length, 10], [want.length + 4096, 10]]) {
        const buf = Buffer.alloc(len)
        const { bytesRead } = await fh.read(buf, 0, len, pos)
        assert.equal(bytesRead, Math.max(0, Math.min(len, want.length - pos)), `count at ${pos}`)
        assert.ok(buf.subarray(0, bytesRead).equals(want.subarray(pos, pos + bytesRead)), `bytes at ${pos}`)
      }
    } finally {
      await fh.close()
    }
    const small = await open(join(mnt, 'README.md'), 'r')
    try {
      const text = await readFile(join(expected, 'README.md'))
      const buf = Buffer.alloc(10)
      assert.equal((await small.read(buf, 0, 10, 3)).bytesRead, Math.min(10, text.length - 3))
      assert.equal((await small.read(buf, 0, 10, text.length + 1)).bytesRead, 0)
    } finally {
      await small.close()
    }
  })

  test('inode numbers are stable and distinct', async () => {
    const a = await stat(join(mnt, 'README.md'))
    const b = await stat(join(mnt, 'README.md'))
    assert.equal(a.ino, b.ino)
    const inos = new Set((await readdir(join(mnt, 'many'))).slice(0, 500).map(n => n))
    const seen = new Set<number>()
    for (const n of inos) seen.add((await lstat(join(mnt, 'many', n))).ino)
    assert.equal(seen.size, inos.size)
  })

  test('status shows the mount and what was read', async () => {
    const r = await gtfs(home, ['status', '--json'])
    assert.equal(r.code, 0, r.stderr)
    const s = JSON.parse(r.stdout) as { daemon: { mounts: Array<{ dir: string, commit: string, stats: { bytesRead: number } }>, memory: { rss: number, peakRss: number, heapUsed: number } } }
    const m = s.daemon.mounts.find(x => x.dir === mnt)!
    assert.equal(m.commit, mainCommit)
    assert.ok(m.stats.bytesRead > 64 * 2 ** 20, 'the reads above were counted')
    const mem = s.daemon.memory
    assert.ok(mem.heapUsed > 0 && mem.heapUsed < mem.rss && mem.rss <= mem.peakRss, JSON.stringify(mem))
    const text = await gtfs(home, ['status'])
    // the growth shows once the GC pacing has decided, a second after the daemon started (daemon/gc-pacing.ts)
    assert.match(text.stdout, /^memory: \d+ MiB resident \(peak \d+ MiB\), JS heap \d+ MiB( \(may grow 45% between full GCs\))?, buffers \d+ MiB$/m)
  })

  test('umount unmounts', async () => {
    const r = await gtfs(home, ['umount', mnt])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(await isMountpoint(mnt), false)
  })
})

describe('mounting other refs and commits', () => {
  test('--ref old and --commit give those trees', async () => {
    const dir = join(tmp.path, 'old')
    await mkdir(dir)
    await mountCli(dir, '--ref', 'old')
    try {
      await assert.rejects(stat(join(dir, 'added-later.txt')), { code: 'ENOENT' })
    } finally {
      assert.equal((await gtfs(home, ['umount', dir])).code, 0)
    }
    const tagged = (await git(repo, 'rev-parse', 'v1^{commit}')).trim()
    const r = await mountCli(dir, '--commit', tagged)
    assert.equal(r.commit, tagged)
    assert.equal((await gtfs(home, ['umount', dir])).code, 0)
  })
})

describe('errors: one clear line each, and a non-zero exit', () => {
  test('bad mountpoints, repos and refs', async () => {
    const full = join(tmp.path, 'full')
    await mkdir(full)
    await writeFile(join(full, 'x'), '')
    const cases: Array<[string[], string]> = [
      [['mount', '--json', '--git-dir', repo, join(tmp.path, 'missing')], 'ENOMOUNTPOINT'],
      [['mount', '--json', '--git-dir', repo, full], 'ENOTEMPTY'],
      [['mount', '--json', '--git-dir', tmp.path, mnt], 'ENOTGITDIR'],
      [['mount', '--json', '--git-dir', repo, '--ref', 'no-such-ref', mnt], 'ENOREF'],
      [['mount', '--json', '--git-dir', repo, '--commit', 'abc', mnt], 'EBADID'],
      [['mount', '--json', '--git-dir', repo, '--commit', '0'.repeat(40), mnt], 'ENOCOMMIT'],
      [['mount', '--json', mnt], 'EUSAGE'],
      [['umount', '--json', full], 'ENOTMOUNTED']
    ]
    for (const [args, code] of cases) {
      const r = await gtfs(home, args)
      assert.notEqual(r.code, 0, args.join(' '))
      assert.equal(errorCode(r), code, `${args.join(' ')}: ${r.stderr}`)
    }
    const plain = await gtfs(home, ['mount', '--git-dir', repo, full])
    assert.equal(plain.code, 1)
    assert.match(plain.stderr, /^gtfs: mountpoint .* is not empty\n {2}mount on an empty directory\n$/)
  })

  test('a directory that is already mounted', async () => {
    const dir = join(tmp.path, 'twice')
    await mkdir(dir)
    await mountCli(dir)
    try {
      const r = await gtfs(home, ['mount', '--json', '--git-dir', repo, dir])
      assert.equal(errorCode(r), 'EALREADYMOUNTED')
    } finally {
      assert.equal((await gtfs(home, ['umount', dir])).code, 0)
    }
  })

  test('no /dev/fuse or no fusermount: doctor says how to fix it', async () => {
    const r = await gtfs(home, ['doctor', '--json'], { PATH: '/nonexistent' })
    assert.equal(r.code, 1)
    const report = JSON.parse(r.stdout) as { ok: boolean, checks: Array<{ name: string, ok: boolean, fix?: string }> }
    const fm = report.checks.find(c => c.name === 'fusermount')!
    assert.equal(fm.ok, false)
    assert.match(fm.fix!, /apt-get install fuse/)
    const m = await gtfs(home, ['mount', '--json', '--git-dir', repo, mnt], { PATH: '/nonexistent' })
    assert.equal(errorCode(m), 'ENOFUSE')
    assert.equal((await gtfs(home, ['doctor'])).code, 0)
  })
})

describe('crashes and signals', () => {
  test('after SIGKILL of the daemon, umount cleans up and a new mount works', async () => {
    const dir = join(tmp.path, 'killed')
    await mkdir(dir)
    const { pid } = await mountCli(dir)
    const ino = (await stat(join(dir, 'README.md'))).ino
    process.kill(pid, 'SIGKILL')
    await new Promise(resolve => setTimeout(resolve, 200))
    await assert.rejects(readdir(dir), { code: 'ENOTCONN' })
    const again = await gtfs(home, ['mount', '--json', '--git-dir', repo, dir])
    assert.equal(errorCode(again), 'ESTALEMOUNT')
    const u = await gtfs(home, ['umount', dir])
    assert.equal(u.code, 0, u.stderr)
    assert.match(u.stdout, /stale/)
    assert.equal(await isMountpoint(dir), false)
    await mountCli(dir)
    assert.equal((await stat(join(dir, 'README.md'))).ino, ino, 'inode numbers survive a remount')
    assert.equal((await gtfs(home, ['umount', dir])).code, 0)
    const st = await gtfs(home, ['stop', '--json'])
    assert.equal(st.code, 0, st.stderr)
    assert.equal((JSON.parse(st.stdout) as { stopped: boolean }).stopped, true)
    assert.equal(errorCode(await gtfs(home, ['stop', '--json'])), 'ENODAEMON')
  })

  test('files open and close without a message to the daemon (libfuse debug shows one OPEN, no RELEASE)', async t => {
    const { kernelOpensAlone } = await import('../../src/fs/fuse-ops.ts')
    if (!kernelOpensAlone()) { t.skip('this kernel needs FUSE opens answered'); return }
    const m = await debugMount('zero-open')
    const dir = m.dir
    try {
      const regular = (await readdir(expected, { withFileTypes: true })).filter(e => e.isFile() && !e.name.startsWith('.')).map(e => e.name)
      assert.ok(regular.length >= 3, `files to open: ${regular.join(' ')}`)
      for (let pass = 0; pass < 2; pass++) {
        for (const p of regular) assert.equal(await sha256(join(dir, p)), await sha256(join(expected, p)), p)
      }
    } finally {
      assert.equal(await m.stop(), 0)
    }
    const debug = m.debug()
    const count = (op: string): number => debug.split('\n').filter(l => l.includes(`opcode: ${op} (`)).length
    assert.ok(count('READ') > 0, `libfuse's debug output shows the reads: ${debug.slice(0, 500)}`)
    assert.equal(count('OPEN'), 1, 'the first open is answered ENOSYS; the kernel opens alone after it')
    assert.equal(count('RELEASE'), 0, 'and sends no RELEASE')
  })

  test('gtfs\'s own /dev/fuse session: a first walk makes no LOOKUP, a second reaches the daemon not at all', async t => {
    const { fuseTransport } = await import('../../src/fs/mount.ts')
    if (fuseTransport() !== 'dev-fuse') { t.skip('mounts go through libfuse here'); return }
    const m = await debugMount('walk-twice')
    const dir = m.dir
    const ops = (text: string): string[] => text.split('\n').map(l => /opcode: (\w+) \(/.exec(l)?.[1]).filter((op): op is string => op !== undefined)
    // A lookup of a name that is not there marks a point in the debug output: once
    // its LOOKUP shows, everything asked before it has shown too (stderr is a pipe away).
    let marks = 0
    const mark = async (): Promise<number> => {
      const lookups = (): number => ops(m.debug()).filter(op => op === 'LOOKUP').length
      const seen = lookups()
      await assert.rejects(stat(join(dir, `.no-such-name-${marks++}`)), { code: 'ENOENT' })
      await waitUntil('the marker lookup shows in the debug output', () => lookups() !== seen, 10_000, 20)
      return m.debug().length
    }
    let first: string[] = []
    let second: string[] = []
    try {
      const before = await mark()
      const listed = await run('find', [dir, '-printf', '%s %m %y %p\n'])
      const middle = await mark()
      const again = await run('find', [dir, '-printf', '%s %m %y %p\n'])
      const end = await mark()
      // each slice ends with its marker's LOOKUP
      first = ops(m.debug().slice(before, middle)).slice(0, -1)
      second = ops(m.debug().slice(middle, end)).slice(0, -1)
      assert.equal(again.stdout, listed.stdout, 'both walks list the same')
      assert.ok(listed.stdout.split('\n').length > 20, listed.stdout.slice(0, 300))
    } finally {
      assert.equal(await m.stop(), 0)
    }
    assert.ok(first.includes('READDIRPLUS'), `the first walk lists with attributes: ${first.join(' ')}`)
    assert.ok(!first.includes('LOOKUP'), `and looks nothing up: ${first.join(' ')}`)
    // (find's fts asks STATFS once per walk, for its leaf optimization)
    assert.deepEqual(second.filter(op => op !== 'STATFS'), [], 'the second walk lists and stats from the kernel alone')
  })

  test('through libfuse 2 (GTFS_FUSE=libfuse, the transport of a mount by a non-root user) the tree is the same', async () => {
    const m = await debugMount('libfuse', { GTFS_FUSE: 'libfuse' })
    try {
      assert.match(await readFile(`/proc/${m.pid}/maps`, 'utf8'), /libfuse\.so\.2/, 'the mount is served by libfuse 2')
      assert.deepEqual(await walk(m.dir), await walk(expected))
      const regular = (await readdir(expected, { withFileTypes: true })).filter(e => e.isFile()).map(e => e.name)
      for (const p of regular) assert.equal(await sha256(join(m.dir, p)), await sha256(join(expected, p)), p)
    } finally {
      assert.equal(await m.stop(), 0)
    }
  })

  test('-f stays in the foreground and SIGINT/SIGTERM unmount cleanly', async () => {
    const { spawn } = await import('node:child_process')
    const { gtfsEnv } = await import('../helpers/mounts.ts')
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const dir = join(tmp.path, `fg-${sig}`)
      await mkdir(dir)
      mounted.push(dir)
      const child = spawn(process.execPath, [join(ROOT, 'bin', 'gtfs'), 'mount', '-f', '--git-dir', repo, dir], { env: gtfsEnv(home), stdio: ['ignore', 'pipe', 'pipe'] })
      const exited = new Promise<number | null>(resolve => child.on('exit', code => { resolve(code) }))
      let out = ''
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => { reject(new Error(`not mounted: ${out}`)) }, 30_000)
        child.stdout.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('Ctrl-C')) { clearTimeout(timer); resolve() } })
      })
      assert.ok(await isMountpoint(dir))
      assert.ok((await readdir(dir)).includes('README.md'))
      child.kill(sig)
      assert.equal(await exited, 0, sig)
      assert.equal(await isMountpoint(dir), false, `${sig} unmounts`)
    }
  })
})

/**
 * A root filesystem from the swarm, end to end with real processes on loopback
 * (as root): a busybox-static root published with --rootfs by a seeder, then a
 * reader with an empty cache runs `gtfs chroot <key> -- /bin/sh -c ...` — the
 * catalog's setuid bits, device nodes, owners, hard links and empty dirs show,
 * only the bytes the command opens are fetched, and everything chroot set up
 * is gone afterwards, also when the command fails. Then the mount helper
 * (mount(8)'s calling convention), the root-only --suid/--dev, and an upgrade
 * to another signed ref that fetches only what changed.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import { chmod, chown, copyFile, link, lstat, mkdir, mkdtemp, readdir, readlink, rm, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { errorCode, forceUnmount, gtfs, gtfsEnv, isMountpoint, stopDaemon } from '../helpers/mounts.ts'
import { startJsonProcess, type Running } from '../helpers/processes.ts'
import { isRoot } from '../helpers/rootfs.ts'
import { must, ROOT, run } from '../helpers/run.ts'

const skip = !isRoot && 'needs root (mknod, chroot, mount)'
const GTFS_BIN = join(ROOT, 'bin', 'gtfs')
const SBIN_HELPER = '/sbin/mount.fuse.gtfs'
let tmp: { path: string, remove: () => Promise<void> }
let rootfs: string
let gitDir: string
let key: string
let rootBytes = 0
let dht: Running | undefined
const homes: Record<string, string> = {}
const mounts: Array<[string, string]> = []
let env: NodeJS.ProcessEnv

async function mustG (who: string, args: string[], extra: NodeJS.ProcessEnv = {}): Promise<string> {
  const r = await gtfs(homes[who], args, { ...env, ...extra })
  assert.equal(r.code, 0, `${who}: gtfs ${args.join(' ')}: ${r.stderr}`)
  return r.stdout
}

interface RepoStatus { repo: string, fetched: { objects: number, bytes: number }, peers: Array<{ bytesIn: number }> }
/** Bytes this reader has fetched for the repo: object bytes (fetcher), and wire bytes (every peer). */
async function fetched (who: string): Promise<{ objects: number, bytes: number, wire: number }> {
  const s = JSON.parse(await mustG(who, ['status', '--json'])) as { daemon: { swarm: { repos: RepoStatus[] } | null } }
  const r = s.daemon.swarm?.repos.find(x => x.repo === key)
  if (r === undefined) return { objects: 0, bytes: 0, wire: 0 }
  return { objects: r.fetched.objects, bytes: r.fetched.bytes, wire: r.peers.reduce((n, p) => n + p.bytesIn, 0) }
}

/** Mounts under `dir` (a chroot's /proc, /sys, /dev, or a gtfs mount), from our mount table. */
async function mountsUnder (dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8')
  return text.split('\n').map(l => l.split(' ')[4]).filter(m => m !== undefined && (m === dir || m.startsWith(dir + '/')))
}

async function du (dir: string): Promise<number> {
  let n = 0
  for (const name of await readdir(dir)) {
    const st = await lstat(join(dir, name))
    if (st.isDirectory()) n += await du(join(dir, name))
    else if (st.isFile()) n += st.size
  }
  return n
}

/** busybox-static and its applets, a setuid file, a device node, a hard link, an empty dir, and 12 MiB nobody opens. */
async function makeBusyboxRoot (dir: string): Promise<void> {
  for (const d of ['bin', 'dev', 'etc', 'proc', 'sys', 'tmp', 'root', 'empty', 'usr/share/filler']) await mkdir(join(dir, d), { recursive: true })
  await copyFile('/bin/busybox', join(dir, 'bin', 'busybox'))
  await chmod(join(dir, 'bin', 'busybox'), 0o755)
  for (const app of ['sh', 'ls', 'id', 'cat', 'stat', 'echo', 'true', 'false', 'grep', 'wc', 'sleep']) await symlink('busybox', join(dir, 'bin', app))
  await writeFile(join(dir, 'bin', 'su'), '#!/bin/sh\necho not really su\n')
  await chmod(join(dir, 'bin', 'su'), 0o4755)
  await must('mknod', [join(dir, 'dev', 'null'), 'c', '1', '3'])
  await chmod(join(dir, 'dev', 'null'), 0o666)
  await writeFile(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n')
  await writeFile(join(dir, 'etc', 'group'), 'root:x:0:\n')
  await writeFile(join(dir, 'etc', 'motd'), 'version 1\n')
  await link(join(dir, 'etc', 'motd'), join(dir, 'etc', 'motd.hardlink'))
  await chmod(join(dir, 'tmp'), 0o1777)
  await must('setfattr', ['-n', 'user.origin', '-v', 'gtfs-test', join(dir, 'etc', 'motd')])
  await mkdir(join(dir, 'home', 'u'), { recursive: true })
  await writeFile(join(dir, 'home', 'u', 'notes'), 'mine\n')
  await chmod(join(dir, 'home', 'u', 'notes'), 0o600)
  await chown(join(dir, 'home', 'u'), 1000, 1000)
  await chown(join(dir, 'home', 'u', 'notes'), 1000, 1000)
  for (let i = 0; i < 12; i++) await writeFile(join(dir, 'usr', 'share', 'filler', `f${i}.bin`), randomBytes(2 ** 20))
}

before(async () => {
  if (!isRoot) return
  // Under /tmp itself, not TMPDIR (scripts/test.sh makes that 0700): user nobody
  // must reach the mounts below it. after() unmounts whatever is left here.
  const path = await mkdtemp('/tmp/gtfs-test-rootfs-chroot-')
  tmp = { path, remove: async () => { await rm(path, { recursive: true, force: true }) } }
  await chmod(tmp.path, 0o755)
  await mkdir(join(tmp.path, 'nobody-tmp'), { mode: 0o777 })
  await chmod(join(tmp.path, 'nobody-tmp'), 0o1777)
  for (const who of ['dht', 'seeder', 'reader']) homes[who] = join(tmp.path, who)
  rootfs = join(tmp.path, 'rootfs')
  gitDir = join(tmp.path, 'os.git')
  await makeBusyboxRoot(rootfs)
  rootBytes = await du(rootfs)
  await must('git', ['init', '-q', '--bare', gitDir])
  dht = await startJsonProcess(process.execPath, [GTFS_BIN, 'dht-node', '--json', '--host', '127.0.0.1', '--bootstrap', 'none'], gtfsEnv(homes.dht))
  env = { GTFS_BOOTSTRAP: `127.0.0.1:${String(dht.ready.port)}`, GTFS_LISTEN_HOST: '127.0.0.1' }

  const fpr = (await mustG('seeder', ['key', 'generate', '--name', 'Distro', '--email', 'distro@example.org'])).trim()
  key = (await mustG('seeder', ['init', gitDir, '--signer', fpr])).trim()
  await mustG('seeder', ['publish', gitDir, '--rootfs', rootfs, '--ref', 'refs/heads/main', '--expires', '1h'])
  await mustG('seeder', ['seed', key])
})


after(async () => {
  if (!isRoot || tmp === undefined) return
  // A chroot that died half way may leave /proc, /sys or /dev mounted under the reader's home.
  for (const m of (await mountsUnder(tmp.path)).reverse()) {
    if (!(await readFile('/proc/self/mountinfo', 'utf8')).includes(` ${m} `)) continue
    await run('umount', ['-l', m])
  }
  for (const [home, dir] of mounts) await forceUnmount(home, dir)
  // The helper this test put on /sbin, if a failure left it there.
  if (await readlink(SBIN_HELPER).then(t => t === join(ROOT, 'bin', 'mount.fuse.gtfs'), () => false)) await rm(SBIN_HELPER, { force: true })
  await stopDaemon(homes.reader)
  await stopDaemon(homes.seeder)
  await dht?.stop()
  await tmp.remove()
})

test('chroot into a busybox root from the swarm: ls, id, setuid and device nodes, few bytes fetched, all cleaned up', { skip }, async () => {
  const r = await gtfs(homes.reader, ['chroot', key, '--', '/bin/sh', '-c',
    'ls /; id; stat -c "%n %a %F %t:%T %u" /bin/su /dev/null; ls /empty | wc -l; stat -c %i /etc/motd /etc/motd.hardlink; cat /proc/self/stat >/dev/null && echo proc; ls /dev | grep -c . >/dev/null && echo ok'], env)
  assert.equal(r.code, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  for (const d of ['bin', 'dev', 'empty', 'etc', 'proc', 'usr']) assert.ok(lines.includes(d), `ls / shows ${d}: ${r.stdout}`)
  assert.ok(lines.some(l => l.startsWith('uid=0(root) gid=0(root)')), `id: ${r.stdout}`)
  assert.ok(lines.includes('/bin/su 4755 regular file 0:0 0'), `setuid bit from the catalog: ${r.stdout}`)
  assert.ok(lines.some(l => l.startsWith('/dev/null 666 character special file 1:3')), `the device node (the host's /dev bound over it): ${r.stdout}`)
  assert.ok(lines.includes('proc') && lines.at(-1) === 'ok', r.stdout)
  const inodes = lines.filter(l => /^\d+$/.test(l))
  assert.equal(inodes[0], '0', 'the empty directory is empty')
  assert.equal(inodes[1], inodes[2], 'hard links share an inode')

  // Without the binds, /dev/null is the catalog's own device node, usable as a device (dev).
  const own = await gtfs(homes.reader, ['chroot', key, '--no-binds', '--', '/bin/sh', '-c', 'stat -c "%a %F %t:%T" /dev/null; echo x >/dev/null && echo dev-ok'], env)
  assert.equal(own.code, 0, own.stderr)
  assert.equal(own.stdout, '666 character special file 1:3\ndev-ok\n')

  const f = await fetched('reader')
  assert.ok(f.objects > 0, 'objects came from the swarm')
  // busybox is most of what was opened; the 12 MiB of filler never left the seeder.
  assert.ok(f.wire < rootBytes / 4, `fetched ${f.wire} wire bytes (${f.bytes} object bytes) of a ${rootBytes}-byte root`)
  process.stderr.write(`# rootfs ${rootBytes} bytes; fetched ${f.objects} objects, ${f.bytes} object bytes, ${f.wire} wire bytes\n`)

  // Nothing chroot set up is left: no gtfs mount, no /proc, /sys, /dev binds, no temporary mountpoint.
  assert.deepEqual(await mountsUnder(homes.reader), [])
  const st = JSON.parse(await mustG('reader', ['status', '--json'])) as { daemon: { mounts: unknown[] } }
  assert.deepEqual(st.daemon.mounts, [])
})

test('chroot passes a failing status through and still cleans up, also on SIGTERM; a mount with --suid --dev is reused', { skip }, async () => {
  const failed = await gtfs(homes.reader, ['chroot', key, '--', '/bin/sh', '-c', 'echo before; exit 3'], env)
  assert.equal(failed.code, 3, failed.stderr)
  assert.equal(failed.stdout, 'before\n')
  assert.deepEqual(await mountsUnder(homes.reader), [])
  const missing = await gtfs(homes.reader, ['chroot', key, '--', '/bin/no-such-program'], env)
  assert.equal(missing.code, 127, missing.stderr)
  assert.deepEqual(await mountsUnder(homes.reader), [])

  // SIGTERM to gtfs chroot: the command gets it, and everything is undone.
  const { spawn } = await import('node:child_process')
  const child = spawn(process.execPath, [GTFS_BIN, 'chroot', key, '--', '/bin/sh', '-c', 'echo started; exec sleep 60'], { env: gtfsEnv(homes.reader, env), stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
  let out = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`chroot did not start: ${out}`)) }, 60_000)
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); if (out.includes('started')) { clearTimeout(timer); resolve() } })
  })
  assert.ok((await mountsUnder(homes.reader)).length >= 4, 'the root and its /proc, /sys, /dev are mounted while it runs')
  child.kill('SIGTERM')
  assert.equal(await exited, 128 + 15)
  assert.deepEqual(await mountsUnder(homes.reader), [])

  const mnt = join(tmp.path, 'mnt')
  await mkdir(mnt)
  mounts.push([homes.reader, mnt])
  await mustG('reader', ['mount', key, mnt, '--pin', '--allow-other', '--suid', '--dev'])
  const opts = (await readFile('/proc/self/mounts', 'utf8')).split('\n').find(l => l.split(' ')[1] === mnt) ?? ''
  assert.doesNotMatch(opts, /nosuid|nodev/, opts)
  assert.match(opts, /allow_other/)
  assert.match(opts, /default_permissions/)
  const su = await lstat(join(mnt, 'bin', 'su'))
  assert.equal(su.mode, 0o104755)
  const nul = await lstat(join(mnt, 'dev', 'null'))
  assert.ok(nul.isCharacterDevice())
  assert.equal(nul.rdev, 0x103)
  assert.equal((await lstat(join(mnt, 'tmp'))).mode, 0o41777)
  const notes = await lstat(join(mnt, 'home', 'u', 'notes'))
  assert.deepEqual([notes.uid, notes.gid, notes.mode], [1000, 1000, 0o100600])
  assert.equal(await must('getfattr', ['--only-values', '-n', 'user.origin', join(mnt, 'etc', 'motd')]), 'gtfs-test')
  // allow_other with default_permissions: the kernel applies the catalog's modes to other users.
  const asNobody = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'cat', join(mnt, 'home', 'u', 'notes')])
  assert.notEqual(asNobody.code, 0)
  assert.match(asNobody.stderr, /Permission denied/)
  assert.equal(await must('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'cat', join(mnt, 'etc', 'motd')]), 'version 1\n')

  const r = await gtfs(homes.reader, ['chroot', key, '--', '/bin/cat', '/etc/motd'], env)
  assert.equal(r.code, 0, r.stderr)
  assert.equal(r.stdout, 'version 1\n')
  assert.deepEqual(await mountsUnder(mnt), [mnt], 'the reused mount stays, its binds are gone')
  await mustG('reader', ['umount', mnt])
})

test('--suid and --dev are refused unless root', { skip }, async () => {
  const mnt = join(tmp.path, 'mnt-user')
  await mkdir(mnt)
  // As nobody, with a home nobody owns: refused before anything else happens.
  const r = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, GTFS_BIN, 'mount', '--json', key, mnt, '--suid'],
    { env: gtfsEnv(join(tmp.path, 'nobody'), { ...env, TMPDIR: join(tmp.path, 'nobody-tmp') }) })
  assert.equal(errorCode(r), 'ENOTROOT', r.stderr)
  const c = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, GTFS_BIN, 'chroot', '--json', key, '--', '/bin/true'],
    { env: gtfsEnv(join(tmp.path, 'nobody'), { ...env, TMPDIR: join(tmp.path, 'nobody-tmp') }) })
  assert.equal(errorCode(c), 'ENOTROOT', c.stderr)
})

test('the mount helper: mount(8)\'s calling convention, options translated; a default mount is nosuid,nodev', { skip }, async () => {
  const mnt = join(tmp.path, 'mnt-helper')
  await mkdir(mnt)
  const helper = join(ROOT, 'bin', 'mount.fuse.gtfs')
  const fake = await run(helper, [key, mnt, '-f', '-o', 'ro,ref=main,pin,allow_other,noauto,_netdev,x-systemd.automount,nofail'], { env: gtfsEnv(homes.reader, env) })
  assert.equal(fake.code, 0, fake.stderr)
  assert.equal(fake.stdout, `gtfs mount ${key} ${mnt} --ref main --pin --allow-other\n`)
  const bad = await run(helper, [key, mnt, '-o', 'ro,no_such_option'], { env: gtfsEnv(homes.reader, env) })
  assert.equal(bad.code, 2)
  assert.match(bad.stderr, /unknown mount option "no_such_option"/)

  mounts.push([homes.reader, mnt])
  // As mount(8) runs it: /sbin/mount.fuse.gtfs <source> <dir> -o <options>; home= picks the state.
  const r = await run(helper, [key, mnt, '-o', `ro,pin,noauto,home=${homes.reader}`], { env: gtfsEnv(join(tmp.path, 'unused'), env) })
  assert.equal(r.code, 0, r.stderr)
  assert.equal(await isMountpoint(mnt), true)
  const line = (await readFile('/proc/self/mounts', 'utf8')).split('\n').find(l => l.split(' ')[1] === mnt) ?? ''
  assert.match(line, / fuse\.gtfs ro,nosuid,nodev/, line)
  assert.equal(await readFile(join(mnt, 'etc', 'motd'), 'utf8'), 'version 1\n')
  await mustG('reader', ['umount', mnt])

  // mount(8) itself, when the helper can be put on /sbin for the moment (and is taken off again).
  if (await lstat(SBIN_HELPER).then(() => false, () => true)) {
    await symlink(helper, SBIN_HELPER)
    try {
      const m = await run('mount', ['-t', 'fuse.gtfs', '-o', `pin,noauto,x-systemd.automount,home=${homes.reader}`, key, mnt], { env: gtfsEnv(join(tmp.path, 'unused'), env) })
      assert.equal(m.code, 0, m.stderr)
      assert.equal(await readFile(join(mnt, 'etc', 'motd'), 'utf8'), 'version 1\n')
      await mustG('reader', ['umount', mnt])
    } finally {
      await rm(SBIN_HELPER, { force: true })
    }
  }
})


test('an upgrade: switching a mounted root to another signed ref fetches only what changed', { skip }, async () => {
  const mnt = join(tmp.path, 'mnt-up')
  await mkdir(mnt)
  mounts.push([homes.reader, mnt])
  await mustG('reader', ['mount', key, mnt, '--ref', 'main'])
  assert.equal(await readFile(join(mnt, 'etc', 'motd'), 'utf8'), 'version 1\n')
  await run('sh', ['-c', 'cat "$1"/bin/busybox "$1"/usr/share/filler/* >/dev/null', '_', mnt])

  // v2 on another ref: one file changed, one added.
  await writeFile(join(rootfs, 'etc', 'motd'), 'version 2\n')
  await writeFile(join(rootfs, 'etc', 'release'), 'v2\n')
  await mustG('seeder', ['publish', gitDir, '--rootfs', rootfs, '--ref', 'refs/heads/v2', '--expires', '1h'])

  const before = await fetched('reader')
  const out = await mustG('reader', ['mount', '--json', key, mnt, '--ref', 'v2'])
  const m = JSON.parse(out) as { switched: boolean, ref: string }
  assert.equal(m.switched, true)
  assert.equal(m.ref, 'refs/heads/v2')
  assert.equal(await readFile(join(mnt, 'etc', 'motd'), 'utf8'), 'version 2\n')
  assert.equal(await readFile(join(mnt, 'etc', 'release'), 'utf8'), 'v2\n')
  await run('sh', ['-c', 'cat "$1"/bin/busybox "$1"/usr/share/filler/* >/dev/null', '_', mnt])
  const afterSwitch = await fetched('reader')
  const objects = afterSwitch.objects - before.objects
  const bytes = afterSwitch.bytes - before.bytes
  process.stderr.write(`# upgrade: ${objects} objects, ${bytes} object bytes, ${afterSwitch.wire - before.wire} wire bytes fetched (root ${rootBytes} bytes)\n`)
  // The commit, the root tree, etc/, two blobs, the new catalog and signed documents:
  // nothing of busybox or the filler, which the store holds already.
  assert.ok(objects <= 16, `${objects} objects fetched for the switch`)
  assert.ok(bytes < 16 * 1024, `${bytes} bytes fetched for the switch`)
  assert.ok(afterSwitch.wire - before.wire < 2 ** 20, `${afterSwitch.wire - before.wire} wire bytes for the switch`)

  // A pinned mount does not switch: it says how to.
  const pinned = join(tmp.path, 'mnt-pinned')
  await mkdir(pinned)
  mounts.push([homes.reader, pinned])
  await mustG('reader', ['mount', key, pinned, '--pin'])
  const refused = await gtfs(homes.reader, ['mount', '--json', key, pinned, '--ref', 'v2'], env)
  assert.equal(errorCode(refused), 'EPINNED', refused.stderr)
  await mustG('reader', ['umount', pinned])
  await mustG('reader', ['umount', mnt])
})

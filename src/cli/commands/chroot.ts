/**
 * gtfs chroot: run a command inside a signed root filesystem from the swarm.
 *
 * Mounts the repo by key through the daemon (allow_other, suid, dev; or reuses
 * a mount of that repo and ref the daemon already serves), mounts /proc, /sys
 * and /dev into it, runs chroot(8), and undoes everything it set up in reverse
 * order: also when the command fails or this process gets SIGINT/SIGTERM/SIGHUP.
 * Every mount(8)/umount(8)/chroot(8) runs as a child of this process, which
 * does not serve the FUSE mount (the daemon does), so nothing here can deadlock.
 */
import { spawn } from 'node:child_process'
import { mkdir, mkdtemp, rmdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { constants } from 'node:os'
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { loadSettings, paths } from '../../config.ts'
import { EnvironmentError, UsageError } from '../../errors.ts'
import { assertFuseUsable, checkMountpoint, isMounted } from '../../fs/preflight.ts'
import { parseRepoRef } from '../../repo/repo-ref.ts'
import { askDaemon, ensureDaemon } from '../daemon-client.ts'
import { SWARM_OPTIONS, swarmPort } from '../swarm-options.ts'

interface ChrootArgs {
  key: string
  cmd?: string[]
  ref?: string
  dir?: string
  binds?: boolean
  'allow-expired'?: boolean
  bootstrap?: string
  port?: number
  json?: boolean
}

interface DaemonMount { dir: string, repo?: string, ref: string | null, commit: string, options?: { suid: boolean, dev: boolean } }

/** What a chroot needs from the host: a fresh proc, and the host's /sys and /dev. */
const BINDS: Array<{ path: string, how: 'proc' | 'rbind' }> = [
  { path: 'proc', how: 'proc' },
  { path: 'sys', how: 'rbind' },
  { path: 'dev', how: 'rbind' }
]

const MOUNT_TIMEOUT_MS = 30_000

/** Runs a program without a shell; rejects with its stderr when it fails or outlives the deadline. */
async function runTool (cmd: string, args: string[]): Promise<void> {
  await new Promise<void>((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    child.stderr.on('data', (c: Buffer) => { err += c.toString() })
    const timer = setTimeout(() => { child.kill('SIGKILL') }, MOUNT_TIMEOUT_MS)
    child.once('error', e => { clearTimeout(timer); reject(e) })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolvePromise()
      else reject(new Error(`${cmd} ${args.join(' ')}: ${signal ?? `exit ${code}`}: ${err.trim()}`))
    })
  })
}

/** The mount the daemon already serves for this repo and ref, if any. */
function findMount (mounts: DaemonMount[], repo: string, ref: string | undefined): DaemonMount | undefined {
  const names = ref === undefined ? null : [ref, `refs/heads/${ref}`, `refs/tags/${ref}`]
  return mounts.find(m => m.repo === repo && (names === null || (m.ref !== null && names.includes(m.ref))))
}

export const chrootCommand: CommandModule<object, ChrootArgs> = {
  command: 'chroot <key> [cmd..]',
  describe: 'run a command inside a signed root filesystem mounted from the swarm (root only)',
  builder: (y: Argv) => y
    .positional('key', { type: 'string', describe: 'a repo key, gtfs:// URL or alias whose ref is a root filesystem', demandOption: true })
    .positional('cmd', { type: 'string', array: true, describe: 'the command and its arguments, after --; default /bin/sh' })
    .option('ref', { type: 'string', describe: 'the ref holding the root filesystem (default: the manifest\'s default ref)' })
    .option('dir', { type: 'string', describe: 'mount on this empty directory (default: a new one under the runtime directory)' })
    .option('binds', { type: 'boolean', default: true, describe: 'mount /proc, /sys and /dev into the root (--no-binds: none)' })
    .option('allow-expired', { type: 'boolean', describe: 'with no peer serving a fresh manifest, use the last accepted one even if it expired' })
    .options(SWARM_OPTIONS)
    .parserConfiguration({ 'populate--': true })
    .example('sudo gtfs chroot 3f9a…e1 --ref amd64 -- /bin/sh -c \'id; ls /\'', 'run a shell command inside the root filesystem')
    .example('sudo gtfs chroot os -- apt-get --version', 'by alias; the binaries are fetched as they are executed') as unknown as Argv<ChrootArgs>,
  handler: async (argv: ArgumentsCamelCase<ChrootArgs>) => {
    const after = (argv as unknown as { '--'?: Array<string | number> })['--'] ?? []
    const cmd = [...(argv.cmd ?? []), ...after].map(String)
    if (process.getuid?.() !== 0) throw new UsageError('ENOTROOT', 'gtfs chroot needs root: chroot(2), and mounting with suid and dev', { hint: 'run it with sudo' })
    const p = paths()
    const settings = loadSettings()
    const target = await parseRepoRef(argv.key, p.data)
    const ref = argv.ref ?? target.ref
    await assertFuseUsable()
    await ensureDaemon(p, settings)

    const undo: Array<{ what: string, run: () => Promise<void> }> = []
    // Signals wait for the command to end (it gets them too, or is sent them), then clean up.
    let child: ReturnType<typeof spawn> | undefined
    let signalled: NodeJS.Signals | undefined
    const onSignal = (sig: NodeJS.Signals): void => {
      signalled ??= sig
      // Ctrl-C on a terminal reaches the command already (same process group).
      if (sig === 'SIGINT' && process.stdin.isTTY) return
      if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill(sig)
    }
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
    for (const s of signals) process.on(s, onSignal)
    let status = 1
    try {
      const status0 = await askDaemon<{ mounts: DaemonMount[] }>(p, 'status', {}, 10_000)
      let root: string
      // With --dir, only a mount on that directory is reused.
      const wantDir = argv.dir === undefined ? undefined : resolve(argv.dir)
      const reused = findMount(status0.mounts.filter(m => wantDir === undefined || m.dir === wantDir), target.key, ref)
      if (reused !== undefined) {
        root = reused.dir
        if (reused.options !== undefined && (!reused.options.suid || !reused.options.dev)) {
          process.stderr.write(`gtfs: note: reusing ${root}, mounted without ${[reused.options.suid ? '' : 'suid', reused.options.dev ? '' : 'dev'].filter(Boolean).join(' and ')}\n`)
        }
      } else {
        let made: string | undefined
        if (wantDir !== undefined) {
          root = await checkMountpoint(wantDir)
        } else {
          await mkdir(join(p.runtime, 'chroot'), { recursive: true, mode: 0o700 })
          made = await mkdtemp(join(p.runtime, 'chroot', `${target.key.slice(0, 12)}-`))
          root = made
          undo.push({ what: `remove ${made}`, run: async () => { await rmdir(made!) } })
        }
        if (signalled !== undefined) throw new UsageError('EINTERRUPTED', `stopped by ${signalled} before the command ran`)
        await askDaemon(p, 'mount', {
          key: target.key,
          ref,
          dir: root,
          pin: true,
          allowExpired: argv.allowExpired === true,
          allowOther: true,
          suid: true,
          dev: true,
          bootstrap: argv.bootstrap,
          port: swarmPort(argv)
        }, settings.mountReadyMs + 5_000)
        undo.push({ what: `unmount ${root}`, run: async () => { await askDaemon(p, 'umount', { dir: root }, 30_000) } })
      }

      if (argv.binds !== false) {
        for (const b of BINDS) {
          if (signalled !== undefined) break
          const at = join(root, b.path)
          const isDir = await stat(at).then(s => s.isDirectory(), () => false)
          if (!isDir) { process.stderr.write(`gtfs: note: the root has no /${b.path} directory: not mounted\n`); continue }
          if (await isMounted(at) !== null) continue // a reused mount that has it already
          if (b.how === 'proc') {
            await runTool('mount', ['-t', 'proc', 'proc', at])
            undo.push({ what: `unmount ${at}`, run: async () => { await unmountTool(at, false) } })
          } else {
            await runTool('mount', ['--rbind', `/${b.path}`, at])
            undo.push({ what: `unmount ${at}`, run: async () => { await unmountTool(at, true) } })
            // A slave gets the host's mount events, and sends none back: unmounting
            // the copy (umount -R) must not unmount /dev/pts or /sys/fs/cgroup on the host.
            await runTool('mount', ['--make-rslave', at])
          }
        }
      }

      if (signalled !== undefined) throw new UsageError('EINTERRUPTED', `stopped by ${signalled} before the command ran`)
      const argvIn = cmd.length > 0 ? cmd : ['/bin/sh']
      status = await new Promise<number>((resolvePromise, reject) => {
        child = spawn('chroot', [root, ...argvIn], { stdio: 'inherit' })
        child.once('error', err => { reject(new EnvironmentError('ECHROOT', `could not run chroot(8): ${err.message}`, { cause: err })) })
        child.once('exit', (code, sig) => {
          resolvePromise(code ?? 128 + (sig === null ? 0 : constants.signals[sig]))
        })
      })
    } finally {
      const failures: string[] = []
      for (const u of undo.reverse()) {
        await u.run().catch((err: Error) => { failures.push(`${u.what}: ${err.message}`) })
      }
      for (const s of signals) process.off(s, onSignal)
      for (const f of failures) process.stderr.write(`gtfs: warning: clean-up: ${f}\n`)
    }
    process.exitCode = status
  }
}

/** Unmounts a bind (recursively) or proc; lazily when something still uses it. */
async function unmountTool (at: string, recursive: boolean): Promise<void> {
  const r = recursive ? ['-R'] : []
  try {
    await runTool('umount', [...r, at])
  } catch {
    // A lazy unmount detaches the whole subtree at once.
    await runTool('umount', ['-l', at])
  }
}

/**
 * gtfs mount: mount a commit of a git repository read-only.
 */
import { resolve } from 'node:path'
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { loadSettings, paths } from '../../config.ts'
import { UsageError } from '../../errors.ts'
import { assertFuseUsable, checkMountpoint, checkPrivilegedOptions, isMounted } from '../../fs/preflight.ts'
import { askDaemon, ensureDaemon } from '../daemon-client.ts'
import { printJson } from '../output.ts'
import { SWARM_OPTIONS, swarmPort } from '../swarm-options.ts'

interface MountArgs {
  args: string[]
  'git-dir'?: string
  ref?: string
  commit?: string
  foreground?: boolean
  'allow-other'?: boolean
  suid?: boolean
  dev?: boolean
  'read-deadline'?: number
  'fuse-debug'?: boolean
  pin?: boolean
  'allow-expired'?: boolean
  bootstrap?: string
  port?: number
  json?: boolean
}

export const mountCommand: CommandModule<object, MountArgs> = {
  command: 'mount <args..>',
  describe: 'mount a signed repo from the swarm, or a commit of a local git repository, read-only',
  builder: (y: Argv) => y
    .positional('args', { describe: '[<key>] <dir>: a repo key, gtfs:// URL or alias, and the empty directory to mount on', type: 'string', array: true })
    .option('git-dir', { type: 'string', describe: 'the git repository to serve (a work tree or a bare repo)' })
    .option('ref', { type: 'string', describe: 'branch, tag or full ref to mount (default HEAD)' })
    .option('commit', { type: 'string', describe: 'a full commit id to mount instead of a ref' })
    .option('foreground', { alias: 'f', type: 'boolean', describe: 'stay in the foreground; Ctrl-C unmounts' })
    .option('allow-other', { type: 'boolean', describe: 'let other users read the mount (needs user_allow_other in /etc/fuse.conf unless root)' })
    .option('suid', { type: 'boolean', describe: 'honour setuid/setgid bits of the tree (root only; default nosuid)' })
    .option('dev', { type: 'boolean', describe: 'let device nodes of the tree be opened as devices (root only; default nodev)' })
    .option('read-deadline', { type: 'number', describe: 'milliseconds before a read that cannot be served fails with EIO' })
    .option('fuse-debug', { type: 'boolean', hidden: true })
    .option('pin', { type: 'boolean', describe: 'stay on the manifest mounted first (default: follow newer signed manifests)' })
    .option('allow-expired', { type: 'boolean', describe: 'with no peer serving a fresh manifest, mount the last accepted one even if it expired' })
    .options(SWARM_OPTIONS)
    .conflicts('ref', 'commit')
    .example('gtfs mount 3f9a…e1 /mnt/distro', 'mount the default ref of a signed repo, fetching files from peers when opened')
    .example('gtfs mount gtfs://3f9a…e1/refs/tags/v2 /mnt/v2 --pin', 'mount one ref, and stay on this manifest')
    .example('sudo gtfs mount 3f9a…e1 /srv/root --ref amd64 --allow-other --suid --dev', 'mount a root filesystem for chroot (see gtfs chroot)')
    .example('gtfs mount 3f9a…e1 /srv/root --ref amd64-v2', 'on a mounted (not pinned) repo: switch it to another signed ref in place')
    .example('gtfs mount --git-dir ~/src/linux --ref v6.8 /mnt/linux', 'mount tag v6.8 of a local repository; the gtfs daemon serves it')
    .example('gtfs mount -f --git-dir . /tmp/head', 'mount HEAD of this repo in the foreground')
    .example('gtfs umount /mnt/linux', 'unmount it again') as unknown as Argv<MountArgs>,
  handler: async (argv: ArgumentsCamelCase<MountArgs>) => {
    checkPrivilegedOptions({ suid: argv.suid, dev: argv.dev })
    if (argv.args.length === 2) {
      await mountKey(argv)
      return
    }
    if (argv.args.length !== 1) throw new UsageError('EUSAGE', 'mount takes a repo key and a directory, or --git-dir and a directory', { hint: 'gtfs mount <key> <dir>, or gtfs mount --git-dir <repo> [--ref <ref>] <dir>' })
    if (argv.gitDir === undefined) throw new UsageError('EUSAGE', 'say which repository to mount with --git-dir', { hint: 'gtfs mount --git-dir <repo> [--ref <ref>] <dir>' })
    const dir = resolve(argv.args[0])
    const p = paths()
    const settings = loadSettings()
    if (argv.readDeadline !== undefined) {
      if (!Number.isSafeInteger(argv.readDeadline) || argv.readDeadline <= 0) throw new UsageError('EUSAGE', '--read-deadline takes a positive number of milliseconds')
      settings.readDeadlineMs = argv.readDeadline
    }
    const target = { gitDir: argv.gitDir, ref: argv.ref, commit: argv.commit }

    if (!argv.foreground) {
      // The daemon serves background mounts; it is started on first use.
      const { resolveLocalTarget } = await import('../../repo/local-repo.ts')
      const resolved = await resolveLocalTarget(target)
      await assertFuseUsable()
      await checkMountpoint(dir)
      const pid = await ensureDaemon(p, settings)
      const m = await askDaemon<{ dir: string, commit: string, ref: string | null }>(p, 'mount', {
        gitDir: resolved.gitDir,
        ref: argv.ref,
        commit: argv.commit,
        dir,
        allowOther: argv.allowOther === true,
        suid: argv.suid === true,
        dev: argv.dev === true,
        readDeadlineMs: argv.readDeadline
      }, settings.mountReadyMs)
      if (argv.json) printJson({ ...m, pid })
      else process.stdout.write(`mounted ${m.commit.slice(0, 12)}${m.ref !== null ? ` (${m.ref})` : ''} at ${m.dir} (daemon pid ${pid}; gtfs umount ${m.dir} to unmount)\n`)
      return
    }

    const { serveMount } = await import('../../daemon/serve-mount.ts')
    const serving = await serveMount({ target, dir, paths: p, settings, allowOther: argv.allowOther, suid: argv.suid, dev: argv.dev, fuseDebug: argv.fuseDebug })
    if (argv.json) {
      printJson({ dir: serving.mount.dir, commit: serving.mount.commit, ref: serving.mount.ref, pid: process.pid })
    } else {
      process.stdout.write(`mounted ${serving.mount.commit.slice(0, 12)}${serving.mount.ref !== null ? ` (${serving.mount.ref})` : ''} at ${serving.mount.dir}; Ctrl-C unmounts\n`)
    }
    await serving.done
  }
}

/** `gtfs mount <key> <dir>` from the command line. */
async function mountKey (argv: ArgumentsCamelCase<MountArgs>): Promise<void> {
  if (argv.gitDir !== undefined || argv.commit !== undefined) throw new UsageError('EUSAGE', 'a repo key mounts signed refs: --git-dir and --commit do not apply', { hint: 'gtfs mount <key> [--ref <ref>] <dir>' })
  if (argv.foreground === true) throw new UsageError('EUSAGE', 'a repo is mounted by the gtfs daemon, which seeds it too: -f does not apply', { hint: 'run `gtfs daemon` in the foreground instead' })
  await mountRepoKey({
    key: argv.args[0],
    dir: argv.args[1],
    ref: argv.ref,
    pin: argv.pin === true,
    allowExpired: argv.allowExpired === true,
    allowOther: argv.allowOther === true,
    suid: argv.suid === true,
    dev: argv.dev === true,
    bootstrap: argv.bootstrap,
    port: argv.port,
    json: argv.json === true
  })
}

export interface RepoKeyMount {
  /** repo key, gtfs:// URL or alias */
  key: string
  dir: string
  ref?: string
  pin: boolean
  allowExpired: boolean
  allowOther: boolean
  suid: boolean
  dev: boolean
  bootstrap?: string
  port?: number
  json: boolean
}

/**
 * `gtfs mount <key> <dir>`: the daemon resolves, verifies, mounts and seeds.
 * bin/gtfs runs the plain form straight here, without the CLI (mount-plain.ts).
 */
export async function mountRepoKey (o: RepoKeyMount): Promise<void> {
  const p = paths()
  const settings = loadSettings()
  const dir = resolve(o.dir)
  const swarm = { bootstrap: o.bootstrap, port: swarmPort({ port: o.port }) }
  // The daemon starts while the mountpoint is checked, and a daemon started
  // now starts its swarm node and looks for the repo's peers while this
  // request is on its way (~5 ms of checks, and the ~15 ms from its listening
  // to the swarm node's start, off a first mount's path). A check that fails
  // leaves the daemon running, as a mount that fails later does.
  const daemon = ensureDaemon(p, settings, { swarm, repo: o.key })
  try {
    await assertFuseUsable()
    // A gtfs mount there already: the daemon switches it to --ref if it serves the same repo.
    const there = await isMounted(dir)
    if (there === null || !there.fstype.startsWith('fuse.gtfs')) await checkMountpoint(dir)
  } catch (err) {
    await daemon.catch(() => {})
    throw err
  }
  const pid = await daemon
  const m = await askDaemon<{ dir: string, repo: string, commit: string, ref: string, seq: number, offline: boolean, switched: boolean, from?: string }>(p, 'mount', {
    key: o.key,
    ref: o.ref,
    dir,
    pin: o.pin,
    allowExpired: o.allowExpired,
    allowOther: o.allowOther,
    suid: o.suid,
    dev: o.dev,
    ...swarm
  }, settings.mountReadyMs + 5_000)
  if (o.json) printJson({ ...m, pid })
  else if (m.switched) {
    process.stdout.write(`switched ${m.dir} to ${m.ref} at ${m.commit.slice(0, 12)} (seq ${m.seq}; was ${(m.from ?? '').slice(0, 12)})\n`)
  } else {
    process.stdout.write(`mounted ${m.repo.slice(0, 12)}… seq ${m.seq}, ${m.ref} at ${m.commit.slice(0, 12)}, on ${m.dir}` +
      `${m.offline ? ' (offline: no peer answered; the last accepted manifest)' : ''} (daemon pid ${pid})\n`)
  }
}

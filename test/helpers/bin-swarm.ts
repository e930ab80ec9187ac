/**
 * A loopback swarm with a repo of programs, for the automount and shell-hook
 * tests: a DHT node, a publisher daemon seeding a repo whose usr/bin holds a
 * shell script, a static busybox and links to it (one relative, one absolute),
 * and a reader home with an empty cache. Everything it starts, stop() ends.
 */
import { chmod, copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { gtfs, gtfsEnv, stopDaemon } from './mounts.ts'
import { startJsonProcess, type Running } from './processes.ts'
import { git, GTFS, run, tempDir, type RunResult } from './run.ts'

export interface BinSwarm {
  tmp: string
  key: string
  /** the publisher's signing key */
  fingerprint: string
  homes: { publisher: string, reader: string }
  env: NodeJS.ProcessEnv
  /** gtfs as the reader */
  reader: (args: string[], extra?: NodeJS.ProcessEnv) => Promise<RunResult>
  /** the blob id of a path of the published commit */
  blob: (path: string) => Promise<string>
  /** true when the reader's store holds `id` */
  readerHas: (id: string) => Promise<boolean>
  stop: () => Promise<void>
}

/** `hello` prints its arguments and exits 7; padded so that its blob is a fetch of its own. */
export const HELLO = '#!/bin/sh\necho "hello from the swarm: $*"\nexit 7\n' + `# ${'padding '.repeat(8192)}\n`

export async function startBinSwarm (prefix: string, names: { hello: string, relLink: string, absLink: string }): Promise<BinSwarm> {
  const tmp = await tempDir(prefix)
  const homes = { publisher: join(tmp.path, 'publisher'), reader: join(tmp.path, 'reader') }
  const started: Running[] = []
  const stop = async (): Promise<void> => {
    // GTFS_TEST_SHOW_LOG=1: the reader daemon's log, to see why a test failed.
    if (process.env.GTFS_TEST_SHOW_LOG === '1') process.stderr.write(await readFile(join(homes.reader, 'state', 'logs', 'daemon.log'), 'utf8').catch(() => ''))
    for (const h of Object.values(homes)) await stopDaemon(h)
    for (const p of started) await p.stop()
    await tmp.remove()
  }
  try {
    const repo = join(tmp.path, 'tools')
    await mkdir(join(repo, 'usr', 'bin'), { recursive: true })
    await git(repo, 'init', '-q')
    await writeFile(join(repo, 'usr', 'bin', names.hello), HELLO)
    await chmod(join(repo, 'usr', 'bin', names.hello), 0o755)
    await copyFile('/bin/busybox', join(repo, 'usr', 'bin', 'busybox'))
    await chmod(join(repo, 'usr', 'bin', 'busybox'), 0o755)
    await symlink('busybox', join(repo, 'usr', 'bin', names.relLink))
    // Absolute: in the repo (as in a chroot into it) this is the repo's busybox, not the host's.
    await symlink('/usr/bin/busybox', join(repo, 'usr', 'bin', names.absLink))
    await writeFile(join(repo, 'README'), 'tools\n')
    await git(repo, 'add', '-A')
    await git(repo, 'commit', '-qm', 'tools')

    const dht = await startJsonProcess(process.execPath, [GTFS, 'dht-node', '--json', '--host', '127.0.0.1', '--bootstrap', 'none'], gtfsEnv(join(tmp.path, 'dht')))
    started.push(dht)
    const env = { GTFS_BOOTSTRAP: `127.0.0.1:${String(dht.ready.port)}`, GTFS_LISTEN_HOST: '127.0.0.1', GTFS_FOLLOW_MS: '60000' }
    const pub = async (args: string[]): Promise<string> => {
      const r = await gtfs(homes.publisher, args, env)
      if (r.code !== 0) throw new Error(`publisher: gtfs ${args.join(' ')}: ${r.stderr}`)
      return r.stdout
    }
    const fingerprint = (await pub(['key', 'generate', '--name', 'Tool Publisher', '--email', 'tools@example.org'])).trim()
    const key = (await pub(['init', repo, '--signer', fingerprint])).trim()
    await pub(['publish', repo, '--expires', '1h'])
    await pub(['seed', '--json'])
    return {
      tmp: tmp.path,
      key,
      fingerprint,
      homes,
      env,
      reader: async (args, extra = {}) => await gtfs(homes.reader, args, { ...env, ...extra }),
      blob: async path => (await git(repo, 'rev-parse', `HEAD:${path}`)).trim(),
      // `cache stats` writes what the daemon holds in memory for its next pack to disk first.
      readerHas: async id => {
        await gtfs(homes.reader, ['cache', 'stats', '--json'], env)
        return (await run('git', ['--git-dir', join(homes.reader, 'data', 'store'), 'cat-file', '-e', id])).code === 0
      },
      stop
    }
  } catch (err) {
    await stop()
    throw err
  }
}

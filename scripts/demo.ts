/**
 * npm run demo: the main job on an embedded default. Generates a sample git
 * repository, mounts one of its refs read-only with gtfs, lists it, reads a
 * file, runs a program from it, checks a large file against git, and unmounts.
 * Everything lives in a temporary directory that is removed at the end.
 *
 * (The swarm — a loopback DHT and seeders publishing signed refs — joins this
 * demo once it exists; today gtfs serves a local repository.)
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const GTFS = join(ROOT, 'bin', 'gtfs')

function step (msg: string): void { process.stdout.write(`\n== ${msg}\n`) }
function show (text: string): void { process.stdout.write(text.replace(/\n$/, '').replace(/^/gm, '   ') + '\n') }

async function main (): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'gtfs-demo-'))
  const repo = join(work, 'sample')
  const mnt = join(work, 'mnt')
  const env = { ...process.env, GTFS_HOME: join(work, 'home') }
  const gtfs = async (...args: string[]): Promise<string> => (await run(process.execPath, [GTFS, ...args], { env })).stdout
  let mounted = false
  try {
    step('checking that this machine can mount FUSE filesystems (gtfs doctor)')
    show(await gtfs('doctor'))

    step(`generating a sample git repository in ${repo}`)
    show((await run('bash', [join(ROOT, 'scripts', 'make-fixture.sh'), repo, '--big-mib', '16'])).stdout)
    show((await run('git', ['-C', repo, 'log', '--oneline', '--all', '--decorate'])).stdout)

    step(`mounting ref main at ${mnt} (gtfs mount starts the gtfs daemon and returns once the mount is ready)`)
    await mkdir(mnt)
    show(await gtfs('mount', '--git-dir', repo, '--ref', 'main', mnt))
    mounted = true

    step('listing the mount')
    show((await run('ls', ['-la', mnt])).stdout)
    const names = await readdir(join(mnt, 'many'))
    show(`many/ holds ${names.length} files; unsafe/ shows only ${JSON.stringify(await readdir(join(mnt, 'unsafe')))} (the entries "..", ".git", ".GIT", "git~1", "a/b" are hidden)\n`)

    step('reading README.md from the mount')
    show(await readFile(join(mnt, 'README.md'), 'utf8'))

    step('running bin/run.sh straight from the mount')
    show((await run(join(mnt, 'bin', 'run.sh'))).stdout)

    step('reading big/blob.bin and checking it against git')
    const t0 = performance.now()
    const bytes = await readFile(join(mnt, 'big', 'blob.bin'))
    const ms = performance.now() - t0
    const fromGit = (await run('git', ['-C', repo, 'cat-file', 'blob', 'main:big/blob.bin'], { encoding: 'buffer', maxBuffer: 64 * 2 ** 20 })).stdout
    const same = createHash('sha256').update(bytes).digest('hex') === createHash('sha256').update(fromGit).digest('hex')
    show(`${(bytes.length / 2 ** 20).toFixed(0)} MiB in ${ms.toFixed(0)} ms, ${same ? 'identical to' : 'DIFFERENT FROM'} git's copy\n`)
    if (!same) throw new Error('the mount served different bytes')

    step('writing is refused: the mount is read-only')
    const w = await run('touch', [join(mnt, 'new-file')]).then(() => 'touch succeeded?!', (e: { stderr: string }) => e.stderr)
    show(w)

    step('gtfs status: what the daemon serves')
    show(await gtfs('status'))

    step('unmounting, and stopping the daemon')
    show(await gtfs('umount', mnt))
    mounted = false
    show(await gtfs('stop'))
    show(`${mnt} is ${(await stat(mnt)).isDirectory() && (await readdir(mnt)).length === 0 ? 'an empty directory again' : 'not empty?!'}\n`)
    process.stdout.write('\ndemo: done\n')
  } finally {
    if (mounted) await run('fusermount', ['-uz', mnt]).catch(() => {})
    await gtfs('stop').catch(() => {})
    await rm(work, { recursive: true, force: true })
  }
}

main().catch((err: Error & { stderr?: string }) => {
  process.stderr.write(`demo: failed: ${err.message}\n${err.stderr ?? ''}`)
  process.exitCode = 1
})

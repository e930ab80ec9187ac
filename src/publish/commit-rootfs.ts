/**
 * Commits a directory into a git repository as it is, with stock git run
 * asynchronously: a temporary git dir (sharing the repository's objects via
 * GIT_OBJECT_DIRECTORY) with its own index (GIT_INDEX_FILE), `git add -A -f`
 * with that directory as work tree, `write-tree`, then `commit-tree` and
 * `update-ref` (with the old value, so a concurrent update is not lost) in the
 * repository itself.
 *
 * Why a temporary git dir: its info/attributes unsets text, eol, filter and
 * ident for every path, and it outranks any .gitattributes inside the root
 * filesystem, so git stores every file's bytes exactly (no CRLF conversion, no
 * clean filter). `-f` adds ignored files too; .gitignore files in the tree
 * are content, not instructions. Git skips what it cannot hold (device nodes,
 * fifos, sockets, empty directories): the catalog holds those.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { objectsDirOf } from '../store/git-dir.ts'
import type { ObjectId } from '../types.ts'
import { runGit } from './run-git.ts'

const NEUTRAL_ATTRIBUTES = '* -text -eol -crlf -filter -ident -working-tree-encoding\n'
const ZERO = '0'.repeat(40)

export interface RootfsCommit {
  commit: ObjectId
  tree: ObjectId
  parent: ObjectId | null
  /** false when the tree equals the parent's: the ref was left where it was */
  changed: boolean
}

export async function commitRootfs (gitDir: string, rootfs: string, ref: string, message: string): Promise<RootfsCommit> {
  const objects = await objectsDirOf(gitDir)
  const tmp = await mkdtemp(join(tmpdir(), `gtfs-rootfs-${randomBytes(3).toString('hex')}-`))
  let tree: ObjectId
  try {
    await mkdir(join(tmp, 'info'))
    await mkdir(join(tmp, 'refs'))
    await mkdir(join(tmp, 'objects'))
    await writeFile(join(tmp, 'HEAD'), 'ref: refs/heads/gtfs-rootfs\n')
    await writeFile(join(tmp, 'info', 'attributes'), NEUTRAL_ATTRIBUTES)
    const env = { GIT_DIR: tmp, GIT_OBJECT_DIRECTORY: objects, GIT_INDEX_FILE: join(tmp, 'index') }
    const config = ['-c', 'core.autocrlf=false', '-c', 'core.safecrlf=false', '-c', 'core.symlinks=true', '-c', 'core.fileMode=true',
      '-c', 'core.ignoreCase=false', '-c', 'core.precomposeUnicode=false', '-c', 'safe.directory=*']
    await runGit([...config, `--work-tree=${rootfs}`, 'add', '-A', '-f', '.'], { cwd: rootfs, env })
    tree = (await runGit([...config, 'write-tree'], { cwd: rootfs, env })).trim()
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
  const git = ['--git-dir', gitDir]
  const parent = (await runGit([...git, 'rev-parse', '--verify', '-q', `${ref}^{commit}`]).catch(() => '')).trim() || null
  if (parent !== null) {
    const parentTree = (await runGit([...git, 'rev-parse', `${parent}^{tree}`])).trim()
    if (parentTree === tree) return { commit: parent, tree, parent, changed: false }
  }
  const identity = await hasIdentity(gitDir) ? {} : { GIT_AUTHOR_NAME: 'gtfs', GIT_AUTHOR_EMAIL: 'gtfs@localhost', GIT_COMMITTER_NAME: 'gtfs', GIT_COMMITTER_EMAIL: 'gtfs@localhost' }
  const commit = (await runGit([...git, 'commit-tree', tree, ...(parent === null ? [] : ['-p', parent]), '-m', message], { env: identity })).trim()
  await runGit([...git, 'update-ref', '-m', 'gtfs publish --rootfs', ref, commit, parent ?? ZERO])
  return { commit, tree, parent, changed: true }
}

async function hasIdentity (gitDir: string): Promise<boolean> {
  if (process.env.GIT_AUTHOR_EMAIL !== undefined && process.env.GIT_COMMITTER_EMAIL !== undefined) return true
  const email = await runGit(['--git-dir', gitDir, 'config', 'user.email']).catch(() => '')
  return email.trim() !== ''
}

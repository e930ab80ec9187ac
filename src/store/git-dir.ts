/**
 * Finding a git directory and reading its refs (loose refs, packed-refs,
 * symbolic HEAD) without running git: the serving process must never block on
 * a child process.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { isAbsolute, join, resolve } from 'node:path'
import { NotFoundError, UsageError } from '../errors.ts'
import { isObjectId } from '../git/object-id.ts'
import type { ObjectId } from '../types.ts'

async function isDir (p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false
}

/** A git dir: HEAD, and objects/ of its own or (a linked worktree) through commondir. */
async function looksLikeGitDir (p: string): Promise<boolean> {
  if ((await stat(join(p, 'HEAD')).catch(() => null)) === null) return false
  if (await isDir(join(p, 'objects'))) return true
  const common = await readFile(join(p, 'commondir'), 'utf8').catch(() => null)
  return common !== null && await isDir(join(resolve(p, common.trim()), 'objects'))
}

/** Resolves a path to a bare repo, a work tree with .git, or a .git file (worktrees). */
export async function findGitDir (path: string): Promise<string> {
  const p = resolve(path)
  if (!await isDir(p)) {
    throw new UsageError('ENOTGITDIR', `${path} is not a directory`, { hint: 'pass the path of a git repository with --git-dir' })
  }
  if (await looksLikeGitDir(p)) return p
  const dotgit = join(p, '.git')
  if (await looksLikeGitDir(dotgit)) return dotgit
  const file = await readFile(dotgit, 'utf8').catch(() => null)
  const m = file === null ? null : /^gitdir: (.+)$/m.exec(file)
  if (m) {
    const target = isAbsolute(m[1]) ? m[1] : join(p, m[1])
    if (await looksLikeGitDir(target)) return target
  }
  throw new UsageError('ENOTGITDIR', `${path} is not a git repository (no objects/ and HEAD, nor .git)`,
    { hint: 'pass the path of a git repository with --git-dir' })
}

/** The objects directory of a git dir; for a linked worktree, the common one. */
export async function objectsDirOf (gitDir: string): Promise<string> {
  const common = await readFile(join(gitDir, 'commondir'), 'utf8').catch(() => null)
  return join(common === null ? gitDir : resolve(gitDir, common.trim()), 'objects')
}

async function readPackedRefs (gitDir: string): Promise<Map<string, ObjectId>> {
  const refs = new Map<string, ObjectId>()
  const text = await readFile(join(gitDir, 'packed-refs'), 'utf8').catch(() => '')
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]{40}) (\S+)$/.exec(line)
    if (m) refs.set(m[2], m[1])
  }
  return refs
}

/** A ref name must stay inside refs/ (or be HEAD): no "..", no absolute paths. */
function safeRefName (name: string): boolean {
  return name === 'HEAD' || (/^refs\/[^\0\s~^:?*[\\]+$/.test(name) && !name.split('/').some(c => c === '' || c === '.' || c === '..' || c.startsWith('.') || c.endsWith('.lock')))
}

async function readRef (gitDir: string, name: string, packed: Map<string, ObjectId>, depth = 0): Promise<ObjectId | null> {
  if (depth > 10 || !safeRefName(name)) return null
  const text = await readFile(join(gitDir, name), 'utf8').catch(() => null)
  if (text !== null) {
    const t = text.trim()
    if (isObjectId(t)) return t
    const m = /^ref: (\S+)$/.exec(t)
    if (m) return await readRef(gitDir, m[1], packed, depth + 1)
    return null
  }
  return packed.get(name) ?? null
}

/**
 * Resolves a ref as git does for a short name: the name itself, then refs/<name>,
 * refs/tags/<name>, refs/heads/<name>, refs/remotes/<name>. Returns the full name
 * and the id it points at (which may be a tag object; peel it with the store).
 */
export async function resolveRef (gitDir: string, ref: string): Promise<{ name: string, id: ObjectId }> {
  const packed = await readPackedRefs(gitDir)
  const candidates = ref === 'HEAD' || ref.startsWith('refs/')
    ? [ref]
    : [`refs/${ref}`, `refs/tags/${ref}`, `refs/heads/${ref}`, `refs/remotes/${ref}`]
  for (const name of candidates) {
    const id = await readRef(gitDir, name, packed)
    if (id !== null) return { name, id }
  }
  throw new NotFoundError(`ref ${ref} does not exist in ${gitDir}`, { code: 'ENOREF', hint: 'list refs with `git -C <repo> show-ref`, or pass --commit <sha>' })
}

/** Every ref of the git dir with the id it points at. */
export async function listRefs (gitDir: string): Promise<Map<string, ObjectId>> {
  const refs = await readPackedRefs(gitDir)
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(gitDir, rel), { withFileTypes: true }).catch(() => [])
    for (const e of entries) {
      const name = `${rel}/${e.name}`
      if (e.isDirectory()) await walk(name)
      else {
        const id = await readRef(gitDir, name, refs)
        if (id !== null) refs.set(name, id)
      }
    }
  }
  await walk('refs')
  return refs
}

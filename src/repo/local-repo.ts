/**
 * A view of a commit of a git repository on this machine (`gtfs mount --git-dir`).
 */
import { GtfsError, UsageError } from '../errors.ts'
import { isObjectId } from '../git/object-id.ts'
import { findGitDir, objectsDirOf, resolveRef } from '../store/git-dir.ts'
import { GitObjectStore, type ObjectStoreOptions } from '../store/object-store.ts'
import { CommitView, peelToCommit } from './commit-view.ts'

export interface LocalTarget {
  gitDir: string
  /** a ref name (short or full); default HEAD */
  ref?: string
  /** a full 40-hex commit id, instead of a ref */
  commit?: string
}

export interface LocalRepo {
  gitDir: string
  /** the ref that was resolved, or null when a commit was given */
  ref: string | null
  commit: string
  store: GitObjectStore
  view: CommitView
}

/** Resolves the target to a commit without opening a view (cheap: for early errors). */
export async function resolveLocalTarget (t: LocalTarget): Promise<{ gitDir: string, ref: string | null, id: string }> {
  const gitDir = await findGitDir(t.gitDir)
  if (t.commit !== undefined && t.ref !== undefined) throw new UsageError('EUSAGE', 'give --ref or --commit, not both')
  if (t.commit !== undefined) {
    const id = t.commit.toLowerCase()
    if (!isObjectId(id)) throw new UsageError('EBADID', `--commit wants a full 40-character hex id, not ${JSON.stringify(t.commit)}`)
    return { gitDir, ref: null, id }
  }
  const r = await resolveRef(gitDir, t.ref ?? 'HEAD')
  return { gitDir, ref: r.name, id: r.id }
}

export async function openLocalRepo (t: LocalTarget, storeOpts: ObjectStoreOptions): Promise<LocalRepo> {
  const { gitDir, ref, id } = await resolveLocalTarget(t)
  const store = await GitObjectStore.open(await objectsDirOf(gitDir), storeOpts)
  try {
    const commit = await peelToCommit(store, id).catch((err: unknown) => {
      if (err instanceof GtfsError && err.code === 'ENOTFOUND') {
        throw new UsageError('ENOCOMMIT', `commit ${id} is not in ${gitDir}`, { hint: 'check the id with `git cat-file -t <id>`' })
      }
      throw err
    })
    const view = await CommitView.open(store, commit)
    return { gitDir, ref, commit, store, view }
  } catch (err) {
    await store.close()
    throw err
  }
}

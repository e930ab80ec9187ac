/**
 * What the object store must keep whatever its quota (store/eviction.ts takes
 * this set): so that directory listings never need the network, and signed
 * state is never lost.
 *
 * - every object the signed documents' refs (refs/gtfs/<repo>) reach: policies,
 *   manifests, signatures, catalogs;
 * - for every commit currently mounted, and every commit the accepted state of
 *   a repo names (what a mount would show): the commit, all its trees, and the
 *   blobs of its symlinks (readlink is metadata too).
 *
 * File contents are not pinned: they come back from the swarm on demand.
 * Trees that are not in the store are skipped (nothing to keep).
 */
import { parseCommit } from '../git/commit.ts'
import { parseTree } from '../git/tree.ts'
import { listRepos } from '../publish/records.ts'
import type { Session } from '../publish/session.ts'
import { listRefs } from '../store/git-dir.ts'
import type { GitObjectStore } from '../store/object-store.ts'
import { loadAcceptedState } from '../trust/index.ts'
import type { ObjectId } from '../types.ts'

export interface RepoPins {
  repo: string
  /** the accepted state's commits (ref → commit) */
  commits: ObjectId[]
  /** objects pinned for these commits (commits, trees, symlink blobs) */
  objects: number
}

export interface StorePins {
  pins: Set<ObjectId>
  repos: RepoPins[]
  /** objects pinned as signed documents */
  documents: number
}

async function has (store: GitObjectStore, id: ObjectId): Promise<boolean> {
  return await store.has(id).catch(() => false)
}

/** Adds `commit` and its whole directory structure to `pins`; returns how many were new. */
async function pinCommit (store: GitObjectStore, commit: ObjectId, pins: Set<ObjectId>): Promise<number> {
  const before = pins.size
  pins.add(commit)
  if (!await has(store, commit)) return pins.size - before
  const obj = await store.read(commit)
  if (obj.type !== 'commit') return pins.size - before
  const stack = [parseCommit(obj.data, commit).tree]
  while (stack.length > 0) {
    const tree = stack.pop()!
    if (pins.has(tree)) continue
    pins.add(tree)
    if (!await has(store, tree)) continue
    for (const e of parseTree((await store.read(tree)).data, tree).entries) {
      if (e.kind === 'dir') stack.push(e.id)
      else if (e.kind === 'symlink') pins.add(e.id)
    }
  }
  return pins.size - before
}

export async function storePins (store: GitObjectStore, session: Session, mounted: ObjectId[] = []): Promise<StorePins> {
  const pins = new Set<ObjectId>()
  for (const [name, id] of await listRefs(session.store.gitDir)) {
    if (!name.startsWith('refs/gtfs/')) continue
    pins.add(id)
    if (!await has(store, id)) continue
    const obj = await store.read(id)
    if (obj.type === 'tree') for (const e of parseTree(obj.data, id).entries) pins.add(e.id)
  }
  const documents = pins.size
  const repos: RepoPins[] = []
  for (const repo of await listRepos(session.home)) {
    const state = await loadAcceptedState(session.home.state, repo).catch(() => null)
    if (state === null) continue
    const commits = [...new Set(Object.values(state.refs))]
    let objects = 0
    for (const c of commits) objects += await pinCommit(store, c, pins)
    repos.push({ repo, commits, objects })
  }
  for (const c of mounted) await pinCommit(store, c, pins)
  return { pins, repos, documents }
}

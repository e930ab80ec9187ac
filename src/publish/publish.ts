/**
 * `gtfs publish`: the next manifest of a repo, from a git repository.
 *
 * For each published ref: the commit it points at (tags peeled), and that
 * commit's catalog — reused from the previous manifest when the ref did not
 * move (a rootfs catalog cannot be rebuilt from git), else built from the
 * tree (sizes), or with `rootfs` committed from a directory first
 * (commit-rootfs.ts) and captured from it (capture-rootfs.ts). Refs of the
 * previous manifest that are not named keep their commit and catalog: a ref
 * disappears only on purpose, since dropping it is a rewrite.
 *
 * The manifest is seq + 1 and `prev` = hash of the latest COMPLETE manifest
 * (a pending one that never completed is replaced), made under the latest
 * complete policy, signed by every signer the governing rules name whose
 * secret key is here. Complete → it becomes the repo's manifest; otherwise it
 * is pending until `gtfs sign` on other machines adds enough signatures.
 *
 * With `trace` (one ref), the catalog is built afresh and carries the paths
 * the traced command opened, in order (the catalog's `prefetch` list); paths
 * that are not files of the catalog are left out.
 */
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { GtfsError, UsageError } from '../errors.ts'
import { encodeCatalog, MAX_PREFETCH_PATHS, type Catalog } from '../git/catalog.ts'
import { objectsDirOf, resolveRef } from '../store/git-dir.ts'
import { GitObjectStore } from '../store/object-store.ts'
import {
  makeManifest, manifestBytes, manifestHash, nowSeconds, parseManifest, verifyPolicyChain, type Manifest, type RefEntry
} from '../trust/index.ts'
import { captureMetadata, rootfsCatalog } from './capture-rootfs.ts'
import { commitRootfs } from './commit-rootfs.ts'
import { getCatalog, putCatalog, saveRecords } from './records.ts'
import type { Session } from './session.ts'
import { isComplete, manifestRequirements, progressOf, signWithLocalKeys, type PassphraseSource, type Progress } from './signing.ts'
import { commitAndTree, sizesCatalog } from './tree-catalog.ts'

export interface PublishOptions {
  repo: string
  /** resolved git dir */
  gitDir: string
  /** ref names as the user wrote them (short or full); empty = the branch HEAD is on */
  refs: string[]
  defaultRef?: string
  /** seconds the manifest stays valid */
  ttlSeconds: number
  /** commit this directory to the (single) ref first, and capture its metadata */
  rootfs?: string
  /** runs the traced command over `commit` and returns the paths it opened, in order (`--trace`) */
  trace?: (commit: string) => Promise<string[]>
  passphrase: PassphraseSource
  now?: Date
}

export interface PublishResult {
  repo: string
  seq: number
  manifestHash: string
  manifest: Manifest
  complete: boolean
  progress: Progress[]
  signedNow: string[]
  replacedPending: boolean
  /** with `trace`: the files the catalog's prefetch list names */
  traced?: number
  /** the commit made from `rootfs`, when one was given */
  rootfsCommit?: { ref: string, commit: string, changed: boolean }
}

export async function publish (s: Session, opts: PublishOptions): Promise<PublishResult> {
  const now = opts.now ?? new Date()
  const records = await s.records(opts.repo)
  if (records.policy.length === 0) {
    throw new GtfsError('EPENDING', 'the genesis policy is still collecting signatures; nothing can be published under it yet',
      { hint: `gtfs manifest export ${records.repo}, and gtfs sign on the other roots' machines` })
  }
  const keys = await s.publicKeys()
  const policy = await verifyPolicyChain({ repo: records.repo, links: records.policy, keys, now })
  const previous = records.manifest === null ? null : parseManifest(records.manifest.bytes)

  const names = opts.refs.length > 0 ? opts.refs : [await headBranch(opts.gitDir)]
  if (opts.rootfs !== undefined && names.length !== 1) throw new UsageError('EUSAGE', '--rootfs publishes one ref: name it with one --ref')
  if (opts.trace !== undefined && names.length !== 1) throw new UsageError('EUSAGE', '--trace records one ref: name it with one --ref')
  const source = await GitObjectStore.open(await objectsDirOf(opts.gitDir))
  const refs: Record<string, RefEntry> = { ...(previous?.refs ?? {}) }
  let rootfsCommit: PublishResult['rootfsCommit']
  let traced: number | undefined
  try {
    const built = new Map<string, string>() // commit → catalog hash, within this run
    for (const name of names) {
      let full: string
      let id: string
      if (opts.rootfs !== undefined) {
        full = name.startsWith('refs/') ? name : `refs/heads/${name}`
        const made = await commitRootfs(opts.gitDir, resolve(opts.rootfs), full, `gtfs publish --rootfs ${opts.rootfs}`)
        id = made.commit
        rootfsCommit = { ref: full, commit: made.commit, changed: made.changed }
      } else {
        const r = await resolveRef(opts.gitDir, name)
        full = r.name
        id = r.id
      }
      if (!full.startsWith('refs/')) throw new UsageError('EUSAGE', `${name} is not a ref under refs/`, { hint: 'name a branch or tag: --ref main' })
      await source.rescanPacks()
      const { commit, tree } = await commitAndTree(source, id)
      const old = previous?.refs[full]
      let catalog: string | null = null
      if (opts.rootfs !== undefined || opts.trace !== undefined) {
        const c: Catalog = opts.rootfs !== undefined
          ? rootfsCatalog(tree, await captureMetadata(resolve(opts.rootfs)), await sizesCatalog(source, tree))
          : await sizesCatalog(source, tree)
        if (opts.trace !== undefined) {
          withPrefetch(c, await opts.trace(commit))
          traced = c.prefetch?.length ?? 0
        }
        catalog = await putCatalog(s.store, records, encodeCatalog(c))
      } else if (old !== undefined && old.commit === commit && old.catalog !== null && (await getCatalog(s.store, records, old.catalog)) !== null) {
        catalog = old.catalog
      } else {
        catalog = built.get(commit) ?? await putCatalog(s.store, records, encodeCatalog(await sizesCatalog(source, tree)))
      }
      built.set(commit, catalog)
      refs[full] = { commit, catalog }
    }
  } finally {
    await source.close()
  }

  const defaultRef = opts.defaultRef === undefined ? undefined : await fullRefName(opts.gitDir, opts.defaultRef, refs)
  const manifest = makeManifest({
    policy,
    seq: (previous?.seq ?? 0) + 1,
    prev: records.manifest === null ? null : manifestHash(records.manifest.bytes),
    refs,
    defaultRef: defaultRef ?? (previous !== null && Object.hasOwn(refs, previous.defaultRef) ? previous.defaultRef : undefined),
    created: nowSeconds(now),
    ttlSeconds: opts.ttlSeconds
  })
  const bytes = manifestBytes(manifest)
  const reqs = manifestRequirements(policy.policy, manifest, Object.keys(previous?.refs ?? {}))
  const { doc, signedNow } = await signWithLocalKeys({ bytes, signatures: [] }, reqs, s.keyring, opts.passphrase, now)
  const progress = await progressOf(doc, reqs, keys, now)
  const complete = isComplete(progress)
  const replacedPending = records.pendingManifest !== null
  if (complete) {
    records.manifest = doc
    records.history.set(manifest.seq, bytes)
    records.pendingManifest = null
  } else {
    records.pendingManifest = doc
  }
  records.gitDir ??= opts.gitDir
  await saveRecords(s.home, s.store, records)
  return {
    repo: records.repo, seq: manifest.seq, manifestHash: manifestHash(bytes), manifest, complete, progress, signedNow, replacedPending,
    ...(rootfsCommit === undefined ? {} : { rootfsCommit }),
    ...(traced === undefined ? {} : { traced })
  }
}

/** The branch HEAD points at (refs/heads/...); EUSAGE when HEAD is detached. */
async function headBranch (gitDir: string): Promise<string> {
  const head = (await readFile(join(gitDir, 'HEAD'), 'utf8').catch(() => '')).trim()
  const m = /^ref: (refs\/\S+)$/.exec(head)
  if (m === null) throw new UsageError('EUSAGE', `HEAD of ${gitDir} is detached`, { hint: 'name the refs to publish: --ref main' })
  return m[1]
}

async function fullRefName (gitDir: string, name: string, refs: Record<string, RefEntry>): Promise<string> {
  if (Object.hasOwn(refs, name)) return name
  for (const full of [`refs/heads/${name}`, `refs/tags/${name}`]) if (Object.hasOwn(refs, full)) return full
  const r = await resolveRef(gitDir, name).catch(() => null)
  if (r !== null && Object.hasOwn(refs, r.name)) return r.name
  throw new UsageError('EUSAGE', `--default-ref ${name} is not one of the published refs`, { hint: `published: ${Object.keys(refs).join(', ')}` })
}

/** Sets the catalog's prefetch list: the traced paths that are files of it, first opens only, capped. */
function withPrefetch (c: Catalog, paths: string[]): void {
  const list: string[] = []
  const seen = new Set<string>()
  for (const p of paths) {
    if (list.length >= MAX_PREFETCH_PATHS) break
    if (seen.has(p) || c.entries.get(p)?.type !== 'file') continue
    seen.add(p)
    list.push(p)
  }
  if (list.length > 0) c.prefetch = list
  else delete c.prefetch
}

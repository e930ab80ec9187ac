/**
 * The last accepted manifest of each repo, persisted so a restart cannot be
 * rolled back to an older manifest (security rules: "the last accepted state
 * is persisted atomically").
 *
 * One file per repo under a directory passed in (by convention
 * `<dataDir>/state/`): `<repo key>.json`, canonical JSON
 *   { format: 1, repo, policyVersion, policyHash, seq, manifestHash, refs: { ref: commit } }
 * written with atomic-file.ts (temp + fsync + rename + fsync dir).
 *
 * A file that cannot be read back fails loudly with ESTATECORRUPT: resetting
 * silently would accept any older manifest next time, i.e. allow a rollback.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { canonicalBytes, parseCanonical } from './canonical-json.ts'
import { corrupt, EROLLBACK, ESEQCONFLICT, malformed, untrusted } from './codes.ts'
import { readFileCapped, writeFileAtomic } from '../atomic-file.ts'
import { SHA1_HEX, SHA256_HEX } from './digest.ts'
import { Fields } from './fields.ts'
import { MAX_STATE_BYTES } from './limits.ts'
import { isValidRefName } from './ref-rules.ts'

export interface AcceptedState {
  repo: string
  policyVersion: number
  policyHash: string
  seq: number
  manifestHash: string
  /** ref → commit id */
  refs: Record<string, string>
}

const FORMAT = 1

export function encodeAcceptedState (state: AcceptedState): Uint8Array {
  const doc = {
    format: FORMAT,
    repo: state.repo,
    policyVersion: state.policyVersion,
    policyHash: state.policyHash,
    seq: state.seq,
    manifestHash: state.manifestHash,
    refs: state.refs
  }
  const bytes = canonicalBytes(doc, 'accepted state')
  validateAcceptedState(bytes, state.repo)
  return bytes
}

/** Parses a state file's bytes; anything wrong is ESTATECORRUPT. */
export function decodeAcceptedState (bytes: Uint8Array, repo: string): AcceptedState {
  try {
    return validateAcceptedState(bytes, repo)
  } catch (err) {
    throw corrupt(`accepted state of ${repo}`, (err as Error).message, err)
  }
}

function validateAcceptedState (bytes: Uint8Array, repo: string): AcceptedState {
  const f = new Fields('accepted state')
  const o = f.object(parseCanonical(bytes, MAX_STATE_BYTES, 'accepted state'), 'state',
    ['format', 'repo', 'policyVersion', 'policyHash', 'seq', 'manifestHash', 'refs'])
  f.int(o.format, 'format', FORMAT, FORMAT)
  const state: AcceptedState = {
    repo: f.string(o.repo, 'repo', SHA256_HEX, 'a repo key'),
    policyVersion: f.int(o.policyVersion, 'policyVersion', 1),
    policyHash: f.string(o.policyHash, 'policyHash', SHA256_HEX, 'a SHA-256 hex hash'),
    seq: f.int(o.seq, 'seq', 1),
    manifestHash: f.string(o.manifestHash, 'manifestHash', SHA256_HEX, 'a SHA-256 hex hash'),
    refs: {}
  }
  for (const [ref, commit] of Object.entries(f.map(o.refs, 'refs'))) {
    if (!isValidRefName(ref)) throw f.fail('refs', `holds an invalid ref name ${JSON.stringify(ref)}`)
    state.refs[ref] = f.string(commit, `refs[${JSON.stringify(ref)}]`, SHA1_HEX, 'a commit id')
  }
  if (state.repo !== repo) throw malformed('accepted state', `belongs to repo ${state.repo}, not ${repo}`)
  return state
}

function stateFile (dir: string, repo: string): string {
  // The repo key is checked to be 64 hex digits, so it cannot name another directory.
  if (typeof repo !== 'string' || !SHA256_HEX.test(repo)) throw malformed('repo key', 'must be 64 lowercase hex digits')
  return join(dir, `${repo}.json`)
}

/** The accepted state of `repo`, null if none was ever saved; ESTATECORRUPT if unreadable. */
export async function loadAcceptedState (dir: string, repo: string): Promise<AcceptedState | null> {
  const file = stateFile(dir, repo)
  let bytes: Buffer | null
  try {
    bytes = await readFileCapped(file, MAX_STATE_BYTES, file)
  } catch (err) {
    if ((err as { code?: string }).code === 'ETOOLARGE') throw corrupt(file, (err as Error).message, err)
    throw err
  }
  return bytes === null ? null : decodeAcceptedState(bytes, repo)
}

/**
 * Persists `state` atomically. Refuses to replace a saved state with an older
 * seq (EROLLBACK) or the same seq with another manifest (ESEQCONFLICT): a
 * second line behind verifyManifest for a caller that mixed up states. The
 * check and the rename are not one atomic step: one writer per repo (the daemon).
 */
export async function saveAcceptedState (dir: string, state: AcceptedState): Promise<void> {
  const file = stateFile(dir, state.repo)
  const bytes = encodeAcceptedState(state)
  const current = await loadAcceptedState(dir, state.repo)
  if (current !== null) {
    if (state.seq < current.seq) throw untrusted(EROLLBACK, `refusing to save seq ${state.seq} over the accepted seq ${current.seq}`)
    if (state.seq === current.seq && state.manifestHash !== current.manifestHash) {
      throw untrusted(ESEQCONFLICT, `refusing to save another manifest with the accepted seq ${current.seq}`)
    }
  }
  await writeFileAtomic(file, bytes, { mode: 0o644 })
}

/** Forgets a repo's state (an explicit user action, e.g. after a publisher reset). */
export async function removeAcceptedState (dir: string, repo: string): Promise<void> {
  await rm(stateFile(dir, repo), { force: true })
}

/**
 * The local trust override of a repo (`gtfs trust set/show`): signers this
 * user requires on top of the policy. It only ever adds a requirement (see
 * verify-manifest.ts): a manifest must meet the policy AND this set.
 *
 * One file per repo under a directory passed in (by convention
 * `<dataDir>/trust/`): `<repo key>.json`, canonical JSON
 *   { format: 1, repo, signers: [FPR], threshold }
 * written atomically; an unreadable file is ESTATECORRUPT (never ignored:
 * ignoring it would drop a restriction the user asked for).
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { canonicalBytes, parseCanonical } from './canonical-json.ts'
import { corrupt, malformed } from './codes.ts'
import { readFileCapped, writeFileAtomic } from '../atomic-file.ts'
import { SHA256_HEX } from './digest.ts'
import { Fields } from './fields.ts'
import { normalizeFingerprint } from './keys.ts'
import { MAX_STATE_BYTES } from './limits.ts'
import { parseSignerSet } from './policy.ts'
import type { SignerSet } from './ref-rules.ts'

export type LocalTrust = SignerSet

const FORMAT = 1

function trustFile (dir: string, repo: string): string {
  if (typeof repo !== 'string' || !SHA256_HEX.test(repo)) throw malformed('repo key', 'must be 64 lowercase hex digits')
  return join(dir, `${repo}.json`)
}

/** Validates and normalizes (fingerprints uppercased) a trust set; EMALFORMED when invalid. */
export function makeLocalTrust (signers: string[], threshold: number): LocalTrust {
  const set = { signers: signers.map(normalizeFingerprint), threshold }
  return parseSignerSet(new Fields('local trust'), set, 'local trust')
}

export async function saveLocalTrust (dir: string, repo: string, trust: LocalTrust): Promise<void> {
  const valid = makeLocalTrust(trust.signers, trust.threshold)
  const bytes = canonicalBytes({ format: FORMAT, repo, ...valid }, 'local trust')
  await writeFileAtomic(trustFile(dir, repo), bytes, { mode: 0o644 })
}

/** The override for `repo`, or null when none is set; ESTATECORRUPT if unreadable. */
export async function loadLocalTrust (dir: string, repo: string): Promise<LocalTrust | null> {
  const file = trustFile(dir, repo)
  try {
    const bytes = await readFileCapped(file, MAX_STATE_BYTES, file)
    if (bytes === null) return null
    const f = new Fields('local trust')
    const o = f.object(parseCanonical(bytes, MAX_STATE_BYTES, 'local trust'), 'local trust', ['format', 'repo', 'signers', 'threshold'])
    f.int(o.format, 'format', FORMAT, FORMAT)
    if (o.repo !== repo) throw malformed('local trust', `belongs to repo ${String(o.repo)}, not ${repo}`)
    return parseSignerSet(f, { signers: o.signers, threshold: o.threshold }, 'local trust')
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'EMALFORMED' || code === 'ETOOLARGE') throw corrupt(file, (err as Error).message, err)
    throw err
  }
}

export async function clearLocalTrust (dir: string, repo: string): Promise<void> {
  await rm(trustFile(dir, repo), { force: true })
}

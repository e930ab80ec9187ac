/**
 * Local names for repo keys: `<data>/aliases.json`, one JSON object
 * { "<alias>": "<repo key>" }, written by `gtfs alias` and read by everything
 * that takes a repo (`gtfs mount`, the automount namespace). This module is the
 * one place that knows the file's format; writes are atomic (atomic-file.ts).
 *
 * An alias names a directory of the automount namespace (`/gtfs/<alias>`), so it
 * must be a valid, unambiguous file name: 1-64 characters of letters, digits,
 * '.', '_', '-', '+', '@', not starting with '.' or '-', and not itself 64 hex
 * digits (which would shadow a repo key).
 */
import { readFileCapped, writeFileAtomic } from '../atomic-file.ts'
import { UsageError } from '../errors.ts'
import { join } from 'node:path'

export const REPO_KEY = /^[0-9a-f]{64}$/i
const ALIAS = /^[A-Za-z0-9_+@][A-Za-z0-9._+@-]{0,63}$/
/** the file is small; a bigger one is refused rather than read */
const MAX_ALIASES_BYTES = 1 << 20

export function aliasesFile (dataDir: string): string {
  return join(dataDir, 'aliases.json')
}

/** Throws EBADALIAS unless `name` may be an alias. */
export function checkAliasName (name: string): string {
  if (!ALIAS.test(name)) {
    throw new UsageError('EBADALIAS', `${JSON.stringify(name)} cannot be an alias`, { hint: 'use 1-64 letters, digits, ".", "_", "-", "+" or "@", not starting with "." or "-"' })
  }
  if (REPO_KEY.test(name)) throw new UsageError('EBADALIAS', `${JSON.stringify(name)} is a repo key itself, it cannot be an alias`)
  return name
}

/** alias → repo key (lowercase); entries that are not valid are skipped. A missing file is no aliases. */
export async function loadAliases (dataDir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  let bytes: Buffer | null
  try {
    bytes = await readFileCapped(aliasesFile(dataDir), MAX_ALIASES_BYTES, aliasesFile(dataDir))
  } catch (err) {
    throw new UsageError('EBADALIASES', `cannot read ${aliasesFile(dataDir)}: ${(err as Error).message}`, { cause: err })
  }
  if (bytes === null) return out
  let v: unknown
  try {
    v = JSON.parse(bytes.toString('utf8'))
  } catch (cause) {
    throw new UsageError('EBADALIASES', `${aliasesFile(dataDir)} is not valid JSON`, { cause, hint: 'fix or remove it; gtfs alias rewrites it' })
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UsageError('EBADALIASES', `${aliasesFile(dataDir)} must hold a JSON object`)
  for (const [name, key] of Object.entries(v)) {
    if (typeof key === 'string' && REPO_KEY.test(key) && ALIAS.test(name) && !REPO_KEY.test(name)) out.set(name, key.toLowerCase())
  }
  return out
}

export async function saveAliases (dataDir: string, aliases: Map<string, string>): Promise<void> {
  const sorted = Object.fromEntries([...aliases].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
  await writeFileAtomic(aliasesFile(dataDir), JSON.stringify(sorted, null, 2) + '\n', { mode: 0o644 })
}

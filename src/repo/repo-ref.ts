/**
 * What `gtfs mount` accepts as a repository: a repo key (64 hex digits), a
 * gtfs:// URL of one (`gtfs://<key>` or `gtfs://<key>/<ref>`), or a local alias
 * (`<data>/aliases.json`, written by `gtfs alias`).
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { UsageError } from '../errors.ts'

const KEY = /^[0-9a-f]{64}$/i

export interface RepoRef {
  key: string
  /** a ref named by the URL, if any */
  ref?: string
}

export function aliasesFile (dataDir: string): string {
  return join(dataDir, 'aliases.json')
}

export async function loadAliases (dataDir: string): Promise<Record<string, string>> {
  try {
    const v = JSON.parse(await readFile(aliasesFile(dataDir), 'utf8')) as unknown
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v as Record<string, string> : {}
  } catch {
    return {}
  }
}

export async function parseRepoRef (text: string, dataDir: string): Promise<RepoRef> {
  if (KEY.test(text)) return { key: text.toLowerCase() }
  const url = /^gtfs:\/\/([0-9a-f]{64})(?:\/(.+))?$/i.exec(text)
  if (url !== null) return { key: url[1].toLowerCase(), ...(url[2] !== undefined ? { ref: decodeURIComponent(url[2]) } : {}) }
  const alias = (await loadAliases(dataDir))[text]
  if (typeof alias === 'string' && KEY.test(alias)) return { key: alias.toLowerCase() }
  throw new UsageError('EBADKEY', `${JSON.stringify(text)} is not a repo key, a gtfs:// URL or a known alias`,
    { hint: 'a repo key is 64 hex digits (gtfs init prints it; gtfs trust show lists known ones)' })
}

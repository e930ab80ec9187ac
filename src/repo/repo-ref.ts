/**
 * What `gtfs mount` accepts as a repository: a repo key (64 hex digits), a
 * gtfs:// URL of one (`gtfs://<key>` or `gtfs://<key>/<ref>`), or a local alias
 * (aliases.ts, written by `gtfs alias`).
 */
import { UsageError } from '../errors.ts'
import { loadAliases, REPO_KEY } from './aliases.ts'

export interface RepoRef {
  key: string
  /** a ref named by the URL, if any */
  ref?: string
}

export async function parseRepoRef (text: string, dataDir: string): Promise<RepoRef> {
  if (REPO_KEY.test(text)) return { key: text.toLowerCase() }
  const url = /^gtfs:\/\/([0-9a-f]{64})(?:\/(.+))?$/i.exec(text)
  if (url !== null) return { key: url[1].toLowerCase(), ...(url[2] !== undefined ? { ref: decodeURIComponent(url[2]) } : {}) }
  const alias = (await loadAliases(dataDir)).get(text)
  if (alias !== undefined) return { key: alias }
  throw new UsageError('EBADKEY', `${JSON.stringify(text)} is not a repo key, a gtfs:// URL or a known alias`,
    { hint: 'a repo key is 64 hex digits (gtfs init prints it; gtfs trust show lists known ones; gtfs alias list the aliases)' })
}

/**
 * One command's access to this machine's trust and publishing state: the
 * directories (home.ts), the keyring and the document store, opened once and
 * closed at the end.
 */
import type { PublicKey } from 'openpgp'
import { NotFoundError, UsageError } from '../errors.ts'
import { SHA256_HEX_PATTERN } from './patterns.ts'
import type { Keyring } from '../trust/index.ts'
import { DocumentStore } from './gtfs-store.ts'
import { homeDirs, keyringOf, type Home } from './home.ts'
import { loadRecords, type RepoRecords } from './records.ts'

export class Session {
  private constructor (readonly home: Home, readonly keyring: Keyring, readonly store: DocumentStore) {}

  static async open (dataDir: string): Promise<Session> {
    const home = homeDirs(dataDir)
    return new Session(home, keyringOf(home), await DocumentStore.open(home.store))
  }

  async close (): Promise<void> {
    await this.store.close()
  }

  async publicKeys (): Promise<PublicKey[]> {
    return await this.keyring.publicKeys()
  }

  /** The records of `repo`; ENOREPO when this machine has none. */
  async records (repo: string): Promise<RepoRecords> {
    const r = await loadRecords(this.home, this.store, checkRepoKey(repo))
    if (r === null) {
      throw new NotFoundError(`no repo ${repo} on this machine`, { code: 'ENOREPO', hint: 'create one with `gtfs init`, or bring one with `gtfs manifest import <file>`' })
    }
    return r
  }
}

export function checkRepoKey (repo: string): string {
  const key = String(repo).toLowerCase()
  if (!SHA256_HEX_PATTERN.test(key)) throw new UsageError('EUSAGE', `"${repo}" is not a repo key (64 hex digits)`, { hint: '`gtfs trust show` lists the repos this machine knows' })
  return key
}

/** Runs `fn` with a session and closes it whatever happens. */
export async function withSession<T> (dataDir: string, fn: (s: Session) => Promise<T>): Promise<T> {
  const s = await Session.open(dataDir)
  try {
    return await fn(s)
  } finally {
    await s.close()
  }
}

/**
 * gtfs's own object store for signed documents: a bare git repository at
 * `<data>/store` (stock `git cat-file` and `git fsck` read it). Manifests,
 * policies, signatures and catalogs are stored as blobs through
 * GitObjectStore.write, which hashes them and checks the id before the object
 * becomes visible; reads are hash-verified again, and sizes are capped from
 * the object header before a blob is inflated, so an oversized document is
 * refused before it is parsed.
 *
 * records.ts points `refs/gtfs/<repo key>` at a tree of each repo's blobs, so
 * `git fsck` and `git gc` see them as reachable. Quota and eviction belong to
 * the store layer and do not apply to these documents.
 */
import { mkdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { IntegrityError, NotFoundError, ProtocolError } from '../errors.ts'
import { hashObject } from '../git/object-id.ts'
import { GitObjectStore } from '../store/object-store.ts'
import type { ObjectId } from '../types.ts'

const GIT_CONFIG = '[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n'

export class DocumentStore {
  private constructor (readonly gitDir: string, readonly objects: GitObjectStore) {}

  /** Opens the store, creating the bare repository on first use. */
  static async open (gitDir: string): Promise<DocumentStore> {
    await ensureBareRepo(gitDir)
    return new DocumentStore(gitDir, await GitObjectStore.open(join(gitDir, 'objects')))
  }

  /** Stores bytes as a blob (hash-checked on write); returns its id. */
  async put (bytes: Uint8Array): Promise<ObjectId> {
    const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    return await this.objects.write('blob', data, hashObject('blob', data))
  }

  /**
   * A blob's bytes, hash-verified; ETOOLARGE (from the header, before
   * inflating) when over `maxBytes`, ENOTFOUND when absent.
   */
  async get (id: ObjectId, maxBytes: number, what: string): Promise<Uint8Array> {
    if (!(await this.objects.has(id))) throw new NotFoundError(`${what} (${id}) is not in the gtfs store ${this.gitDir}`)
    const h = await this.objects.header(id)
    if (h.type !== 'blob') throw new IntegrityError(`${what} (${id}) is a ${h.type}, not a blob`, { code: 'EWRONGTYPE' })
    if (h.size > maxBytes) throw new ProtocolError('ETOOLARGE', `${what} is ${h.size} bytes, over the ${maxBytes}-byte cap`)
    return (await this.objects.read(id)).data
  }

  async close (): Promise<void> {
    await this.objects.close()
  }
}

async function ensureBareRepo (gitDir: string): Promise<void> {
  if ((await stat(join(gitDir, 'HEAD')).catch(() => null)) !== null) return
  for (const d of ['objects/info', 'objects/pack', 'refs/heads', 'refs/tags']) await mkdir(join(gitDir, d), { recursive: true })
  await writeFile(join(gitDir, 'config'), GIT_CONFIG, { flag: 'wx' }).catch(ignoreExists)
  await writeFile(join(gitDir, 'description'), 'gtfs store: signed manifests, policies, signatures and catalogs\n', { flag: 'wx' }).catch(ignoreExists)
  // HEAD last: its presence marks a complete repository.
  await writeFile(join(gitDir, 'HEAD'), 'ref: refs/heads/main\n', { flag: 'wx' }).catch(ignoreExists)
}

function ignoreExists (err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
}

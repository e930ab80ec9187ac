/**
 * The catalog worker's thread (publish/catalog-worker.ts starts it): checks a
 * catalog with decodeCatalog, the same code and checks as on the main thread,
 * and sends back a sizes catalog's entries packed (git/catalog-packed.ts),
 * its tables transferred. A refusal comes back as `refused` with its code;
 * anything else that goes wrong as `error` (the caller then decodes on its
 * own thread). The thread runs at nice 10 (Linux: nice is per thread): a
 * mount is shown before the check ends (git/catalog-sizes.ts), and the
 * threads that answer its first requests come first.
 */
import { readlinkSync } from 'node:fs'
import { setPriority } from 'node:os'
import { parentPort } from 'node:worker_threads'
import { decodeCatalog } from '../git/catalog.ts'
import { packEntries } from '../git/catalog-packed.ts'

try { setPriority(Number(readlinkSync('/proc/thread-self').split('/').pop()), 10) } catch {}

const utf8Strict = new TextDecoder('utf-8', { fatal: true })

parentPort?.on('message', ({ id, bytes, seed }: { id: number, bytes: Uint8Array, seed: number }) => {
  let catalog
  try {
    catalog = decodeCatalog(bytes)
  } catch (err) {
    parentPort!.postMessage({ id, refused: (err as Error).message, code: (err as { code?: string }).code })
    return
  }
  try {
    if (catalog.rootfs) throw new Error('a rootfs catalog is not packed')
    // decodeCatalog took the same strict decoding of the same bytes
    const tables = packEntries(utf8Strict.decode(bytes), catalog.entries, seed)
    parentPort!.postMessage({ id, tables }, [tables.keyStart.buffer, tables.keyEnd.buffer, tables.sizes.buffer, tables.flags.buffer, tables.slots.buffer])
  } catch (err) {
    parentPort!.postMessage({ id, error: (err as Error).message })
  }
})

/**
 * Runs the pure decoders a first mount runs, on small made-up inputs, so that
 * the build compiles them before it writes the daemon's code cache
 * (daemon-main.ts preloadDaemon, scripts/bundle.mjs). A mount otherwise
 * compiles each on first call while it decodes a peer's catalog, trees and
 * messages, on the thread that answers it: V8's parser was 1.7% of all CPU
 * samples over a first mount (`perf record -a`, both cores), after the
 * modules' own code was in the cache. Nothing here touches the disk or the
 * network, and what it decodes is thrown away.
 */
import { encodeCatalog, decodeCatalog, type Catalog } from '../git/catalog.ts'
import { hashObject } from '../git/object-id.ts'
import { parseTree, subtreeIds } from '../git/tree.ts'
import { treeChildren } from '../swarm/codec-tree.ts'
import { decodeMessage, encodeMessage } from '../swarm/messages.ts'

const FILE = '0123456789abcdef0123456789abcdef01234567'

/** A tree with a file and a subdirectory, as git writes it. */
function tree (): Buffer {
  const entry = (mode: string, name: string, id: string): Buffer => Buffer.concat([Buffer.from(`${mode} ${name}\0`), Buffer.from(id, 'hex')])
  return Buffer.concat([entry('100644', 'a.txt', FILE), entry('40000', 'dir', FILE)])
}

export function warmDecoders (): void {
  const sizes: Catalog = { tree: FILE, rootfs: false, entries: new Map([['/a.txt', { type: 'file', size: 1 }], ['/dir/b', { type: 'symlink', size: 5 }]]) }
  const rootfs: Catalog = {
    tree: FILE,
    rootfs: true,
    entries: new Map([
      ['/', { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 }],
      ['/a.txt', { type: 'file', size: 1, mode: 0o644, uid: 0, gid: 0, mtime: 0 }],
      ['/dev', { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 }],
      ['/dev/null', { type: 'chardev', rdev: [1, 3], mode: 0o666, uid: 0, gid: 0, mtime: 0 }]
    ])
  }
  for (const c of [sizes, rootfs]) decodeCatalog(encodeCatalog(c))
  const t = tree()
  parseTree(t)
  subtreeIds(t)
  treeChildren(t)
  hashObject('tree', t)
  const wire = [
    encodeMessage({ t: 'want', r: 1, ids: [FILE], depth: 1, trees: true }),
    encodeMessage({ t: 'object', r: 1, id: FILE, type: 'tree', off: 0, total: t.length, data: t }),
    encodeMessage({ t: 'done', r: 1, truncated: false })
  ]
  for (const m of wire) decodeMessage(m)
}

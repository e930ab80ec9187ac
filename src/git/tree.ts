/**
 * Git tree objects: "<octal mode> <name>\0<20-byte id>" repeated. Parsing keeps
 * only entries that are safe to show; the rest come back in `rejected` with a
 * reason, so the caller can warn once per tree.
 */
import { IntegrityError } from '../errors.ts'
import type { ObjectId } from '../types.ts'
import { unsafeNameReason } from './path-safety.ts'

export type TreeEntryKind = 'dir' | 'file' | 'exec' | 'symlink' | 'gitlink'

export interface TreeEntry {
  name: string
  kind: TreeEntryKind
  id: ObjectId
}

export interface RejectedEntry {
  /** the raw name, escaped for display */
  name: string
  reason: string
}

export interface ParsedTree {
  entries: TreeEntry[]
  rejected: RejectedEntry[]
}

/** Modes git's fsck accepts (non-strict); anything else is a bad mode. */
const MODES: Record<string, TreeEntryKind> = {
  40000: 'dir',
  100644: 'file',
  100664: 'file', // old git wrote group-writable blobs; fsck accepts it outside strict mode
  100755: 'exec',
  120000: 'symlink',
  160000: 'gitlink'
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

function display (raw: Uint8Array): string {
  return JSON.stringify(Buffer.from(raw).toString('latin1')).slice(1, -1)
}

export function parseTree (data: Buffer, id = 'tree'): ParsedTree {
  const entries: TreeEntry[] = []
  const rejected: RejectedEntry[] = []
  let pos = 0
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos)
    if (sp < 0 || sp - pos > 7) throw new IntegrityError(`tree ${id}: malformed entry at byte ${pos}`, { code: 'EMALFORMED' })
    const nul = data.indexOf(0, sp + 1)
    if (nul < 0 || nul + 21 > data.length) throw new IntegrityError(`tree ${id}: truncated entry at byte ${pos}`, { code: 'EMALFORMED' })
    const modeText = data.toString('latin1', pos, sp)
    const rawName = data.subarray(sp + 1, nul)
    const oid = data.toString('hex', nul + 1, nul + 21)
    pos = nul + 21

    const kind = MODES[modeText]
    if (kind === undefined) {
      rejected.push({ name: display(rawName), reason: `bad mode ${modeText}` })
      continue
    }
    let name: string
    try {
      name = utf8.decode(rawName)
    } catch {
      rejected.push({ name: display(rawName), reason: 'name is not valid UTF-8' })
      continue
    }
    const why = unsafeNameReason(name)
    if (why !== null) {
      rejected.push({ name: display(rawName), reason: `unsafe name (${why})` })
      continue
    }
    entries.push({ name, kind, id: oid })
  }
  return { entries, rejected }
}

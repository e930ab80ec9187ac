/**
 * Commit objects: only what a tree view needs (tree, parents, committer time).
 */
import { IntegrityError } from '../errors.ts'
import type { ObjectId } from '../types.ts'
import { isObjectId } from './object-id.ts'

export interface ParsedCommit {
  tree: ObjectId
  parents: ObjectId[]
  /** committer time, unix seconds */
  committerTime: number
}

export function parseCommit (data: Buffer, id = 'commit'): ParsedCommit {
  const end = data.indexOf('\n\n')
  const head = data.toString('utf8', 0, end < 0 ? data.length : end)
  let tree: string | undefined
  const parents: string[] = []
  let committerTime: number | undefined
  for (const line of head.split('\n')) {
    if (line.startsWith('tree ')) tree = line.slice(5)
    else if (line.startsWith('parent ')) parents.push(line.slice(7))
    else if (line.startsWith('committer ')) {
      const m = / (\d+) [+-]\d{4}$/.exec(line)
      if (m) committerTime = Number(m[1])
    }
  }
  if (!isObjectId(tree) || !parents.every(isObjectId) || committerTime === undefined) {
    throw new IntegrityError(`commit ${id}: malformed`, { code: 'EMALFORMED' })
  }
  return { tree, parents, committerTime }
}

/** Annotated tag objects: the object they point at. */
export function parseTagTarget (data: Buffer, id = 'tag'): { object: ObjectId, type: string } {
  const m = /^object ([0-9a-f]{40})\ntype (\w+)\n/.exec(data.toString('latin1', 0, 200))
  if (!m) throw new IntegrityError(`tag ${id}: malformed`, { code: 'EMALFORMED' })
  return { object: m[1], type: m[2] }
}

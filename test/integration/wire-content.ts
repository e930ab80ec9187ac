/** The content the wire integration tests serve and check, built the same way in every process. */
import { buildTree, bytes, MemorySource } from '../unit/swarm-wire/helpers.ts'
import type { ObjectId } from '../../src/types.ts'

export { INFOHASH } from '../unit/swarm-wire/helpers.ts'

export const BIG_BYTES = 64 * 1024 * 1024
export const SMALL_COUNT = 20_000

export interface Content {
  src: MemorySource
  big: ObjectId
  small: ObjectId[]
  root: ObjectId
  tree: ObjectId[]
}

export function content (): Content {
  const src = new MemorySource()
  const big = src.add('blob', bytes(BIG_BYTES, 64))
  const small = Array.from({ length: SMALL_COUNT }, (_, i) => src.add('blob', Buffer.from(`small object ${i}\n`)))
  const { root, all } = buildTree(src, 6, 20, 9)
  return { src, big, small, root, tree: all }
}

/**
 * Git object ids and object framing ("<type> <size>\0<data>"), SHA-1 as git uses it.
 */
import { createHash } from 'node:crypto'
import { IntegrityError } from '../errors.ts'
import type { ObjectId, ObjectType } from '../types.ts'

const HEX40 = /^[0-9a-f]{40}$/
const TYPES = new Set<string>(['blob', 'tree', 'commit', 'tag'])

export function isObjectId (s: unknown): s is ObjectId {
  return typeof s === 'string' && HEX40.test(s)
}

export function isObjectType (s: string): s is ObjectType {
  return TYPES.has(s)
}

export function objectHeader (type: ObjectType, size: number): Buffer {
  return Buffer.from(`${type} ${size}\0`, 'latin1')
}

/** The id git gives `data` stored as an object of `type`. */
export function hashObject (type: ObjectType, data: Uint8Array): ObjectId {
  return createHash('sha1').update(objectHeader(type, data.length)).update(data).digest('hex')
}

/** Throws IntegrityError unless `data` hashes to `id`. */
export function verifyObject (id: ObjectId, type: ObjectType, data: Uint8Array): void {
  const got = hashObject(type, data)
  if (got !== id) throw new IntegrityError(`object ${id} hashes to ${got}`, { code: 'EBADHASH' })
}

/** Parses the framing of an inflated loose object; returns type, size and where the data starts. */
export function parseObjectHeader (buf: Uint8Array, what: string): { type: ObjectType, size: number, start: number } {
  const sp = buf.indexOf(0x20)
  const nul = buf.indexOf(0)
  if (sp <= 0 || nul <= sp || nul > 32) throw new IntegrityError(`${what}: malformed object header`, { code: 'EMALFORMED' })
  const type = Buffer.from(buf.buffer, buf.byteOffset, sp).toString('latin1')
  const sizeText = Buffer.from(buf.buffer, buf.byteOffset + sp + 1, nul - sp - 1).toString('latin1')
  if (!isObjectType(type) || !/^(0|[1-9][0-9]{0,15})$/.test(sizeText)) {
    throw new IntegrityError(`${what}: malformed object header`, { code: 'EMALFORMED' })
  }
  return { type, size: Number(sizeText), start: nul + 1 }
}

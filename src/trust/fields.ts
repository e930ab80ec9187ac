/**
 * Strict field readers for signed JSON documents. Each throws EMALFORMED with
 * the field's path; none of them ever lets a wrong type through as `any`, so a
 * hostile document ends in a coded error, never in a TypeError deeper down.
 */
import type { JsonObject, JsonValue } from './canonical-json.ts'
import { malformed } from './codes.ts'

export class Fields {
  constructor (readonly what: string) {}

  fail (path: string, why: string): Error {
    return malformed(this.what, `${path} ${why}`)
  }

  /** A plain object holding only `required` and `optional` keys. */
  object (value: JsonValue | undefined, path: string, required: string[], optional: string[] = []): JsonObject {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw this.fail(path, 'must be an object')
    for (const key of required) {
      if (!Object.hasOwn(value, key)) throw this.fail(path, `lacks "${key}"`)
    }
    for (const key of Object.keys(value)) {
      // Unknown fields are refused: every signer must have meant the same thing.
      if (!required.includes(key) && !optional.includes(key)) throw this.fail(path, `has unknown field "${key}"`)
    }
    return value
  }

  /** A plain object used as a map; keys are checked by the caller. */
  map (value: JsonValue | undefined, path: string): JsonObject {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) throw this.fail(path, 'must be an object')
    return value
  }

  array (value: JsonValue | undefined, path: string, max: number): JsonValue[] {
    if (!Array.isArray(value)) throw this.fail(path, 'must be an array')
    if (value.length > max) throw this.fail(path, `has more than ${max} items`)
    return value
  }

  int (value: JsonValue | undefined, path: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw this.fail(path, 'must be an integer')
    if (value < min || value > max) throw this.fail(path, `must be between ${min} and ${max}`)
    return value
  }

  bool (value: JsonValue | undefined, path: string): boolean {
    if (typeof value !== 'boolean') throw this.fail(path, 'must be a boolean')
    return value
  }

  string (value: JsonValue | undefined, path: string, pattern: RegExp, describe: string): string {
    if (typeof value !== 'string' || !pattern.test(value)) throw this.fail(path, `must be ${describe}`)
    return value
  }
}

/**
 * The control socket's protocol: one JSON object per line, each way. A request
 * is { id, op, args }; the answer { id, ok: true, result } or
 * { id, ok: false, error: { code, message, hint } }. Lines are capped so a
 * confused client cannot make the daemon buffer without bound.
 */
import type { Socket } from 'node:net'
import { join } from 'node:path'
import type { Paths } from '../config.ts'
import { ProtocolError } from '../errors.ts'

export const MAX_LINE_BYTES = 1 << 20

/** The control socket of the daemon of `paths` (one per GTFS_HOME). */
export function socketPath (paths: Paths): string {
  return join(paths.runtime, 'gtfs.sock')
}

export interface ControlRequest { id: number, op: string, args?: Record<string, unknown> }
export interface ControlError { code: string, message: string, hint?: string }
export type ControlResponse =
  | { id: number, ok: true, result: unknown }
  | { id: number, ok: false, error: ControlError }

/** Calls `onLine` for every complete line; destroys the socket on an oversized one. */
export function readLines (socket: Socket, onLine: (line: string) => void): void {
  let buf = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    buf += chunk
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (line.trim() !== '') onLine(line)
    }
    if (buf.length > MAX_LINE_BYTES) socket.destroy(new ProtocolError('ELINETOOLONG', `control message over ${MAX_LINE_BYTES} bytes`))
  })
}

export function writeLine (socket: Socket, value: unknown): void {
  socket.write(JSON.stringify(value) + '\n')
}

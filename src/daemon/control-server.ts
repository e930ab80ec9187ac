/**
 * The daemon's control socket: a unix socket (mode 0600) under the runtime
 * directory. Each request runs its handler; every error reaches the client with
 * its code. A socket file left by a dead daemon is replaced; a live one is not.
 */
import { chmod, mkdir, unlink } from 'node:fs/promises'
import { createConnection, createServer, type Server } from 'node:net'
import { dirname } from 'node:path'
import { EnvironmentError, GtfsError, UsageError } from '../errors.ts'
import { logger } from '../log.ts'
import { readLines, writeLine, type ControlRequest } from './control-protocol.ts'

const log = logger('gtfs:daemon:control-server')

export type Handler = (args: Record<string, unknown>) => Promise<unknown>

/** Unix socket paths are limited to 107 bytes on Linux. */
const MAX_SOCKET_PATH = 107

async function socketIsLive (path: string): Promise<boolean> {
  return await new Promise(resolve => {
    const s = createConnection(path)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

export async function listenControl (path: string, handlers: Record<string, Handler>): Promise<Server> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new UsageError('ESOCKETPATH', `control socket path is too long for a unix socket: ${path}`, { hint: 'use a shorter GTFS_HOME or XDG_RUNTIME_DIR' })
  }
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  if (await socketIsLive(path)) throw new EnvironmentError('EDAEMONRUNNING', 'a gtfs daemon is already running', { hint: 'gtfs status shows it; gtfs stop stops it' })
  await unlink(path).catch(() => {})
  const server = createServer(socket => {
    readLines(socket, line => {
      let req: ControlRequest
      try {
        req = JSON.parse(line) as ControlRequest
        if (typeof req.op !== 'string' || typeof req.id !== 'number') throw new Error('bad request')
      } catch {
        writeLine(socket, { id: -1, ok: false, error: { code: 'EPROTO', message: 'unreadable control request' } })
        return
      }
      const handler = Object.hasOwn(handlers, req.op) ? handlers[req.op] : undefined
      if (handler === undefined) {
        writeLine(socket, { id: req.id, ok: false, error: { code: 'EUSAGE', message: `unknown control operation ${req.op}` } })
        return
      }
      handler(req.args ?? {}).then(
        result => { if (!socket.destroyed) writeLine(socket, { id: req.id, ok: true, result: result ?? null }) },
        (err: unknown) => {
          const e = err instanceof GtfsError ? err : new GtfsError('EUNEXPECTED', (err as Error)?.message ?? String(err))
          if (!(err instanceof GtfsError)) log('%s failed: %s', req.op, (err as Error)?.stack)
          if (!socket.destroyed) writeLine(socket, { id: req.id, ok: false, error: { code: e.code, message: e.message, hint: e.hint } })
        }
      )
    })
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'EADDRINUSE' ? new EnvironmentError('EDAEMONRUNNING', 'a gtfs daemon is already running') : err)
    })
    server.listen(path, () => { resolve() })
  })
  await chmod(path, 0o600)
  return server
}

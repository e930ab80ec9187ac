/**
 * Talking to the daemon: connect to its unix socket, send one request, wait for
 * its answer under a deadline. A missing or refusing socket means no daemon.
 */
import { createConnection } from 'node:net'
import { EnvironmentError, GtfsError, TimeoutError } from '../errors.ts'
import { readLines, writeLine, type ControlResponse } from './control-protocol.ts'

export function isNoDaemon (err: unknown): boolean {
  return err instanceof GtfsError && err.code === 'ENODAEMON'
}

export async function request<T = unknown> (socketPath: string, op: string, args: Record<string, unknown> = {}, timeoutMs = 60_000): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const socket = createConnection(socketPath)
    let settled = false
    const finish = (err: Error | null, value?: T): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (err !== null) reject(err)
      else resolve(value as T)
    }
    const timer = setTimeout(() => {
      finish(new TimeoutError(`the daemon did not answer ${op} within ${timeoutMs} ms`, { hint: 'gtfs status shows what it is doing; gtfs stop restarts it on next use' }))
    }, timeoutMs)
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') finish(new EnvironmentError('ENODAEMON', 'the gtfs daemon is not running'))
      else finish(new EnvironmentError('ECONTROL', `control socket ${socketPath}: ${err.message}`))
    })
    socket.once('close', () => { finish(new EnvironmentError('ECONTROL', `the daemon closed the connection during ${op}`)) })
    socket.once('connect', () => { writeLine(socket, { id: 1, op, args }) })
    readLines(socket, line => {
      let msg: ControlResponse
      try {
        msg = JSON.parse(line) as ControlResponse
      } catch {
        finish(new EnvironmentError('ECONTROL', 'the daemon sent an unreadable answer'))
        return
      }
      if (msg.ok) finish(null, msg.result as T)
      else finish(new GtfsError(msg.error.code, msg.error.message, { hint: msg.error.hint }))
    })
  })
}

/**
 * A seeder process for the wire integration tests: serves a deterministic
 * content set over TCP on 127.0.0.1 and prints `{"port": N}` once listening.
 * Runs until its stdin closes (the test ends) or it is killed.
 *
 *   node --import tsx test/integration/wire-seeder.ts honest|liar
 *
 * `liar` claims every object and sends corrupted bytes for it.
 */
import { Transport } from '../../src/swarm/transport.ts'
import type { GitObject, ObjectSource } from '../../src/types.ts'
import { content, INFOHASH } from './wire-content.ts'

const mode = process.argv[2] ?? 'honest'
const source: ObjectSource = mode === 'liar'
  ? { read: async (): Promise<GitObject> => ({ type: 'blob', data: Buffer.from('corrupted') }), has: async () => true }
  : content().src

const transport = new Transport({ host: '127.0.0.1', port: 0, accept: h => h === INFOHASH.toString('hex') ? { infoHash: INFOHASH, source } : null })
const { port } = await transport.listen()
process.stdout.write(JSON.stringify({ port }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => { void transport.close().then(() => process.exit(0)) })

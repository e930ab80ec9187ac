/**
 * A hostile peer for the swarm integration test: joins the loopback DHT,
 * announces a repo's swarm, and answers every request with lies.
 *
 *   node --import tsx test/integration/hostile-seeder.ts <repo key> corrupt|nothave
 *
 * corrupt: claims every object and sends bytes that do not hash to its id.
 * nothave: says it has nothing (dont-have) for every request.
 * Prints {"port": N} once announced; runs until stdin closes.
 */
import { SwarmDht } from '../../src/swarm/dht.ts'
import { swarmInfohash } from '../../src/swarm/infohash.ts'
import { Transport } from '../../src/swarm/transport.ts'
import type { GitObject, ObjectSource } from '../../src/types.ts'

const [repo, mode = 'corrupt'] = process.argv.slice(2)
const infoHash = swarmInfohash(repo)
const source: ObjectSource = mode === 'corrupt'
  ? { read: async (): Promise<GitObject> => ({ type: 'blob', data: Buffer.from('corrupted bytes') }), has: async () => true }
  : { read: async (): Promise<GitObject> => { throw Object.assign(new Error('no'), { code: 'ENOTFOUND' }) }, has: async () => false }
const transport = new Transport({
  host: '127.0.0.1',
  port: 0,
  accept: h => h === infoHash.toString('hex') ? { infoHash, repoKeys: [repo], source, state: { state: async () => ({ bundle: Buffer.from('not a bundle') }) } } : null
})
const { port } = await transport.listen()
const dht = new SwarmDht({})
await dht.start({ host: '127.0.0.1', port: 0 })
await dht.announce(infoHash, port)
process.stdout.write(JSON.stringify({ port }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => { void Promise.all([transport.close(), dht.stop()]).then(() => process.exit(0)) })

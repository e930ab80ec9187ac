/**
 * gtfs dht-node: a bare DHT node, serving nothing but the DHT — the first node
 * of a private network (a lab, a LAN, the demo, the tests) that others bootstrap from.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { paths } from '../../config.ts'
import { UsageError } from '../../errors.ts'
import { printJson } from '../output.ts'

interface Args { port?: number, host?: string, bootstrap?: string, json?: boolean }

export const dhtNodeCommand: CommandModule<object, Args> = {
  command: 'dht-node',
  describe: 'run a bare DHT node that other gtfs nodes can bootstrap from',
  builder: (y: Argv) => y
    .option('port', { type: 'number', describe: 'UDP port to listen on (0: any free port)', default: 0 })
    .option('host', { type: 'string', describe: 'address to listen on', default: '0.0.0.0' })
    .option('bootstrap', { type: 'string', describe: 'host:port,... to join, or "none" to start a new network (also GTFS_BOOTSTRAP)' })
    .example('gtfs dht-node --host 127.0.0.1 --port 6881 --bootstrap none', 'the first node of a private network on this machine')
    .example('GTFS_BOOTSTRAP=127.0.0.1:6881 gtfs mount <key> /mnt/x', 'another node that joins it') as unknown as Argv<Args>,
  handler: async (argv: ArgumentsCamelCase<Args>) => {
    if (!Number.isSafeInteger(argv.port) || argv.port! < 0 || argv.port! > 65535) throw new UsageError('EUSAGE', '--port takes 0-65535')
    const { SwarmDht } = await import('../../swarm/dht.ts')
    const { dhtStateFiles } = await import('../../swarm/dht-state.ts')
    const files = dhtStateFiles(paths().state)
    const dht = new SwarmDht({ routingTableFile: files.routingTable, pointerStateFile: files.pointers })
    const addr = await dht.start({ port: argv.port, host: argv.host, bootstrap: argv.bootstrap })
    if (argv.json) printJson({ host: addr.host, port: addr.port, pid: process.pid })
    else process.stdout.write(`dht node listening on ${addr.host}:${addr.port} (pid ${process.pid}); Ctrl-C stops it\n`)
    await new Promise<void>(resolve => {
      const stop = (): void => { resolve() }
      process.once('SIGINT', stop)
      process.once('SIGTERM', stop)
    })
    await dht.stop()
  }
}

/**
 * gtfs seed: serve repos to the swarm — announce them in the DHT, answer peers,
 * and keep the DHT pointer of the repos this machine publishes.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs'
import { loadSettings, paths } from '../../config.ts'
import { askDaemon, ensureDaemon } from '../daemon-client.ts'
import { printJson } from '../output.ts'
import { SWARM_OPTIONS, swarmPort } from '../swarm-options.ts'

interface Args { keys?: string[], bootstrap?: string, port?: number, json?: boolean }

export const seedCommand: CommandModule<object, Args> = {
  command: 'seed [keys..]',
  describe: 'serve repos to the swarm (all the repos of this machine by default)',
  builder: (y: Argv) => y
    .positional('keys', { type: 'string', array: true, describe: 'repo keys, gtfs:// URLs or aliases' })
    .options(SWARM_OPTIONS)
    .example('gtfs seed', 'serve every repo this machine publishes or holds')
    .example('GTFS_BOOTSTRAP=127.0.0.1:6881 gtfs seed 3f9a…e1 --port 7000', 'serve one repo on a private network') as unknown as Argv<Args>,
  handler: async (argv: ArgumentsCamelCase<Args>) => {
    const p = paths()
    const settings = loadSettings()
    const port = swarmPort(argv)
    const pid = await ensureDaemon(p, settings)
    const r = await askDaemon<{ seeding: string[], dhtPort: number, wirePort: number }>(p, 'seed', { keys: argv.keys ?? [], bootstrap: argv.bootstrap, port }, settings.mountReadyMs)
    if (argv.json) { printJson({ ...r, pid }); return }
    if (r.seeding.length === 0) process.stdout.write('no repo to seed: publish one (gtfs init, gtfs publish) or mount one first\n')
    for (const repo of r.seeding) process.stdout.write(`seeding ${repo}\n`)
    process.stdout.write(`daemon pid ${pid}: dht udp ${r.dhtPort}, wire tcp ${r.wirePort}\n`)
  }
}

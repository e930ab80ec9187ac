// The daemon that `gtfs mount` starts when none runs (src/cli/daemon-main.ts):
// `gtfs daemon` without loading the CLI. Not a command of its own.
import { load, restoreV8Defaults } from './load.js'

restoreV8Defaults()
const { daemonMain } = await load('cli/daemon-main', 'daemon-main')
process.exitCode = await daemonMain(process.argv.slice(2))

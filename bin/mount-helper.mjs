// The body of bin/mount.fuse.gtfs (node will not load a file named *.gtfs as a module).
import { load } from './load.mjs'

const { helperMain } = await load('cli/mount-helper-main')
process.exitCode = await helperMain(process.argv.slice(2))

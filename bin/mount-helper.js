// The body of bin/mount.fuse.gtfs (node will not load a file named *.gtfs as a module).
import { register } from 'tsx/esm/api'

register()
const { helperMain } = await import('../src/cli/mount-helper-main.ts')
process.exitCode = await helperMain(process.argv.slice(2))

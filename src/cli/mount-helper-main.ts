/**
 * bin/mount.fuse.gtfs: mount(8)'s call translated (mount-helper.ts), then
 * `gtfs mount` run in this process.
 */
import { main } from './main.ts'
import { translateMountCall, type HelperCall } from './mount-helper.ts'
import { printError } from './output.ts'

/** The helper's entry: translate, then run `gtfs mount` in this process. */
export async function helperMain (argv: string[]): Promise<number> {
  let call: HelperCall
  try {
    call = translateMountCall(argv)
  } catch (err) {
    return printError(err, process.env.GTFS_DEBUG === '1')
  }
  if (call.home !== undefined) process.env.GTFS_HOME = call.home
  if (call.fake) {
    process.stdout.write(`gtfs ${call.args.join(' ')}\n`)
    return 0
  }
  return await main(call.args)
}

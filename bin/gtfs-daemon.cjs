'use strict'
// The daemon that `gtfs mount` starts when none runs (src/cli/daemon-main.ts):
// `gtfs daemon` without loading the CLI. Not a command of its own.
//
// CommonJS, and so is what it takes of bin/ (dist.cjs): node runs a CommonJS
// entry without its ES module loader, which an ES module entry made every
// daemon start compile and run first. From spawn to listening, medians of 12
// interleaved: 96 ms as an ES module, 77 as CommonJS. Only a stale or missing
// dist/ takes the ES module path (bin/load.mjs runs the sources through tsx).
const { loadEntry, restoreV8Defaults } = require('./dist.cjs')

restoreV8Defaults()
loadEntry('cli/daemon-main', 'daemon-main').then(async ({ daemonMain }) => { process.exitCode = await daemonMain(process.argv.slice(2)) }, err => {
  process.stderr.write(`gtfs daemon: ${err.stack ?? err}\n`)
  process.exitCode = 1
})

/**
 * bin/gtfs runs `gtfs mount <key> <dir>` without the CLI only in its plain
 * form, parsed as yargs would parse it (cli/mount-plain.ts); anything else
 * goes to the CLI.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { plainMount } from '../../src/cli/mount-plain.ts'

test('the plain form of `mount <key> <dir>` is parsed as the CLI parses it; anything else is left to the CLI', () => {
  const key = 'ab'.repeat(32)
  const none = { json: false, pin: false, allowExpired: false, allowOther: false }
  const yes: Array<[string[], object]> = [
    [['mount', key, '/mnt/a'], { key, dir: '/mnt/a', ...none }],
    [['mount', '--json', key, 'rel/dir'], { key, dir: 'rel/dir', ...none, json: true }],
    [['mount', key, '/m', '--ref', 'main', '--pin', '--allow-expired'], { key, dir: '/m', ...none, ref: 'main', pin: true, allowExpired: true }],
    [['mount', '--ref=refs/tags/v1', key, '/m', '--port', '6881', '--bootstrap', '127.0.0.1:1'], { key, dir: '/m', ...none, ref: 'refs/tags/v1', port: 6881, bootstrap: '127.0.0.1:1' }],
    [['mount', `gtfs://${key}/main`, '/m', '--allow-other'], { key: `gtfs://${key}/main`, dir: '/m', ...none, allowOther: true }]
  ]
  for (const [argv, parsed] of yes) assert.deepEqual(plainMount(argv), parsed, argv.join(' '))
  const no = [
    ['umount', '/m'],
    ['mount', '/m'],
    ['mount', '--git-dir', '.', '/m'],
    ['mount', key, '/m', '--help'],
    ['mount', key, '/m', '--debug'],
    ['mount', key, '/m', '-f'],
    ['mount', key, '/m', '--suid'],
    ['mount', key, '/m', '--port', 'x'],
    ['mount', key, '/m', '--port='],
    ['mount', key, '/m', '--ref'],
    ['mount', key, '/m', '--ref', '--pin'],
    ['mount', key, '/m', '--ref', 'a', '--ref', 'b'],
    ['mount', key, '/m', '--pin', '--pin'],
    ['mount', key, '/m', 'extra'],
    ['mount', key, '/m', '--json=true'],
    ['mount', key, '/m', '--no-pin'],
    ['mount', key, '/m', '--']
  ]
  for (const argv of no) assert.equal(plainMount(argv), null, argv.join(' '))
})

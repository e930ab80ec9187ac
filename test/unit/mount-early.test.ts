/**
 * bin/gtfs starts the daemon before loading the CLI only for a mount whose
 * arguments cannot fail the command's own checks (cli/mount-early.ts).
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { plainMountDir } from '../../src/cli/mount-early.ts'

test('the daemon starts early only for `mount <key> <dir>` with flags that cannot fail it', () => {
  const key = 'ab'.repeat(32)
  const yes: Array<[string[], string]> = [
    [['mount', key, '/mnt/a'], '/mnt/a'],
    [['mount', '--json', key, 'rel/dir'], 'rel/dir'],
    [['mount', key, '/m', '--ref', 'main', '--pin', '--allow-expired'], '/m'],
    [['mount', '--ref=refs/tags/v1', key, '/m', '--port', '6881', '--bootstrap', '127.0.0.1:1'], '/m'],
    [['mount', `gtfs://${key}/main`, '/m', '--allow-other'], '/m']
  ]
  for (const [argv, dir] of yes) assert.equal(plainMountDir(argv), dir, argv.join(' '))
  const no = [
    ['umount', '/m'],
    ['mount', '/m'],
    ['mount', '--git-dir', '.', '/m'],
    ['mount', key, '/m', '--help'],
    ['mount', key, '/m', '-f'],
    ['mount', key, '/m', '--suid'],
    ['mount', key, '/m', '--port', 'x'],
    ['mount', key, '/m', '--ref'],
    ['mount', key, '/m', 'extra'],
    ['mount', key, '/m', '--json=true']
  ]
  for (const argv of no) assert.equal(plainMountDir(argv), null, argv.join(' '))
})

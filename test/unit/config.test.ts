import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DEFAULTS, loadSettings, paths } from '../../src/config.ts'
import { tempDir } from '../helpers/run.ts'

const dirs: Array<{ remove: () => Promise<void> }> = []
after(async () => { for (const d of dirs) await d.remove() })

test('GTFS_HOME puts every directory under one root', () => {
  assert.deepEqual(paths({ GTFS_HOME: '/srv/g' }), {
    config: '/srv/g/config', data: '/srv/g/data', cache: '/srv/g/cache', state: '/srv/g/state', runtime: '/srv/g/run'
  })
})

test('XDG base directories, with the usual fallbacks', () => {
  const p = paths({ HOME: '/home/u', XDG_CONFIG_HOME: '/cfg', XDG_RUNTIME_DIR: '/run/user/7', XDG_DATA_HOME: 'relative/ignored' })
  assert.equal(p.config, '/cfg/gtfs')
  assert.equal(p.data, '/home/u/.local/share/gtfs')
  assert.equal(p.cache, '/home/u/.cache/gtfs')
  assert.equal(p.state, '/home/u/.local/state/gtfs')
  assert.equal(p.runtime, '/run/user/7/gtfs')
})

test('settings: defaults, then config.json, then GTFS_* variables', async () => {
  const home = await tempDir('config')
  dirs.push(home)
  assert.deepEqual(loadSettings({ GTFS_HOME: home.path }), DEFAULTS)
  await mkdir(join(home.path, 'config'), { recursive: true })
  await writeFile(join(home.path, 'config', 'config.json'), JSON.stringify({ readDeadlineMs: 5000, largeBlobBytes: 1024 }))
  const s = loadSettings({ GTFS_HOME: home.path, GTFS_READ_DEADLINE_MS: '700' })
  assert.equal(s.readDeadlineMs, 700)
  assert.equal(s.largeBlobBytes, 1024)
  assert.throws(() => loadSettings({ GTFS_HOME: home.path, GTFS_READ_DEADLINE_MS: '-1' }), { code: 'EBADCONFIG' })
  await writeFile(join(home.path, 'config', 'config.json'), '{"nope": 1}')
  assert.throws(() => loadSettings({ GTFS_HOME: home.path }), { code: 'EBADCONFIG' })
  await writeFile(join(home.path, 'config', 'config.json'), '{not json')
  assert.throws(() => loadSettings({ GTFS_HOME: home.path }), { code: 'EBADCONFIG' })
})

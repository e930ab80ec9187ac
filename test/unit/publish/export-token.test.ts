/**
 * A seeder serves the state bundle it exported last while exportToken says
 * nothing it is made of changed (daemon/swarm-node.ts stateOf): the token moves
 * with the records and with every key stored, and is withheld while the
 * keyring has just changed.
 */
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { exportToken } from '../../../src/publish/exchange.ts'
import { emptyRecords, saveRecords } from '../../../src/publish/records.ts'
import { Session } from '../../../src/publish/session.ts'

test('the export token moves with the records and the keyring, and is withheld right after a key is stored', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'gtfs-test-export-token-'))
  try {
    const s = await Session.open(join(dir, 'data'))
    const repo = 'cd'.repeat(32)
    assert.equal(await exportToken(s, repo), null, 'no records, no token')
    const r = emptyRecords(repo)
    await saveRecords(s.home, s.store, r)
    const t1 = await exportToken(s, repo)
    assert.notEqual(t1, null)
    assert.equal(await exportToken(s, repo), t1, 'nothing changed: the same token')

    r.history.set(1, Buffer.from('a manifest'))
    await saveRecords(s.home, s.store, r)
    const t2 = await exportToken(s, repo)
    assert.notEqual(t2, t1, 'new records: a new token')

    await s.keyring.generate({ name: 'Ann', email: 'ann@example.org' })
    assert.equal(await exportToken(s, repo), null, 'a key stored just now: no token until the keyring settles')
    const later = Date.now() + 3000
    const t3 = await exportToken(s, repo, later)
    assert.ok(t3 !== null && t3 !== t2, 'a key stored: a new token')
    await s.keyring.generate({ name: 'Bob', email: 'bob@example.org' })
    const t4 = await exportToken(s, repo, Date.now() + 3000)
    assert.ok(t4 !== null && t4 !== t3, 'another key stored: another token')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

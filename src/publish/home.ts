/**
 * Where the trust and publishing state of this machine lives, all under the
 * data directory (config.ts `paths().data`, or `$GTFS_HOME/data`):
 *
 *   keys/                 the keyring (src/trust/keyring.ts)
 *   state/<repo>.json     last accepted manifest per repo (anti-rollback)
 *   trust/<repo>.json     local trust override (`gtfs trust set`)
 *   store/                gtfs's object store: a bare git repository; manifests,
 *                         policies, signatures and catalogs are blobs in it
 *   repos/<repo>/records.json   which blobs are this repo's documents (records.ts)
 *   repos/<repo>/pointer.key    the DHT pointer's ed25519 secret key (0600), on
 *                               the machine that ran `gtfs init`
 */
import { join } from 'node:path'
import { Keyring } from '../trust/index.ts'

export interface Home {
  data: string
  keys: string
  state: string
  trust: string
  store: string
  repos: string
}

export function homeDirs (dataDir: string): Home {
  return {
    data: dataDir,
    keys: join(dataDir, 'keys'),
    state: join(dataDir, 'state'),
    trust: join(dataDir, 'trust'),
    store: join(dataDir, 'store'),
    repos: join(dataDir, 'repos')
  }
}

export function keyringOf (home: Home): Keyring {
  return new Keyring(home.keys)
}

// Types for the parts of bittorrent-dht (11.x) that gtfs uses; the package ships none.
// Only src/swarm/dht.ts imports it (the one place the library is wrapped).
declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events'

  export interface DhtNode {
    host: string
    port: number
    id?: Buffer
  }

  /** The `verify(signature, message, publicKey)` contract of ed25519-supercop. */
  export type VerifyFn = (signature: unknown, message: unknown, publicKey: unknown) => boolean

  export interface DhtOptions {
    nodeId?: Buffer | string
    /** false: none; undefined: the mainline routers (never in tests) */
    bootstrap?: false | Array<string | { host: string, port: number }>
    host?: string | false
    concurrency?: number
    verify?: VerifyFn
    /** per-query UDP timeout of k-rpc-socket, milliseconds (default 2000) */
    timeout?: number
    timeBucketOutdated?: number
    maxAge?: number
    maxTables?: number
    maxValues?: number
    maxPeers?: number
  }

  export interface MutablePut {
    k: Buffer
    /** BEP44: any bencodable value whose encoding is under 1000 bytes */
    v: unknown
    seq: number
    cas?: number
    salt?: Buffer
    sign?: (message: Uint8Array) => Buffer
    sig?: Buffer
  }

  /** A verified BEP44 item as `get` returns it (fields straight off the wire). */
  export interface GetResult {
    v: unknown
    id?: Buffer
    k?: Buffer
    sig?: Buffer
    seq?: number
    salt?: Buffer
  }

  /** One stored value of the local node (internal `_values`). */
  export interface StoredValue {
    v: unknown
    k?: Buffer
    sig?: Buffer
    seq?: number
    salt?: Buffer
    id: Buffer
  }

  interface KBucketLike {
    toArray (): Array<{ id: Buffer, host: string, port: number }>
    count (): number
  }

  export default class DHT extends EventEmitter {
    constructor (opts?: DhtOptions)
    readonly nodeId: Buffer
    readonly nodes: KBucketLike
    listening: boolean
    destroyed: boolean
    ready?: boolean
    listen (port?: number, address?: string, onlistening?: () => void): void
    address (): { address: string, family: string, port: number }
    addNode (node: DhtNode): void
    removeNode (id: Buffer | string): void
    put (opts: MutablePut, cb?: (err: (Error & { code?: unknown }) | null, hash: Buffer, n: number) => void): Buffer
    get (key: Buffer | string, opts: { verify?: VerifyFn, salt?: Buffer, cache?: boolean } | null, cb: (err: Error | null, res: GetResult | null) => void): void
    announce (infoHash: Buffer | string, port: number, cb?: (err: Error | null, n?: number) => void): void
    lookup (infoHash: Buffer | string, cb?: (err: Error | null, n?: number) => void): () => void
    toJSON (): { nodes: Array<{ host: string, port: number }>, values: Record<string, unknown> }
    destroy (cb?: () => void): void
    /** internal: query dispatch, wrapped by gtfs to drop malformed queries */
    _onquery (query: unknown, peer: { address?: string, host?: string, port: number }): void
    /** internal: the LRU of values other nodes stored here */
    _values: { get (keyHex: string): StoredValue | undefined }
  }
  export { DHT as Client }
}

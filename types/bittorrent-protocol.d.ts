// Types for the parts of bittorrent-protocol (5.x) that gtfs uses; the package ships none.
// The Wire is a streamx Duplex; only the stream methods gtfs calls are declared.
declare module 'bittorrent-protocol' {
  import { EventEmitter } from 'node:events'

  export interface HandshakeExtensions {
    dht?: boolean
    fast?: boolean
    extended?: boolean
  }

  /** An extension instance, as `wire.use()` constructs it with `new Ext(wire)`. */
  export interface WireExtension {
    name: string
    onHandshake?: (infoHash: string, peerId: string, extensions: HandshakeExtensions) => void
    onExtendedHandshake?: (handshake: Record<string, unknown>) => void
    onMessage?: (buf: Uint8Array) => void
  }

  export type WireExtensionClass = new (wire: Wire) => WireExtension

  export default class Wire extends EventEmitter {
    constructor (type?: string, peEnabled?: number)

    peerId: string | null
    peerIdBuffer: Uint8Array | null
    type: string
    extensions: HandshakeExtensions
    peerExtensions: HandshakeExtensions
    /** our extended handshake, minus `m` (filled from the extensions in use) */
    extendedHandshake: Record<string, unknown>
    peerExtendedHandshake: Record<string, unknown>
    extendedMapping: Record<number, string>
    peerExtendedMapping: Record<string, number>
    uploaded: number
    downloaded: number
    readonly destroyed: boolean
    readonly destroying: boolean

    use (ext: WireExtensionClass): void
    handshake (infoHash: Uint8Array | string, peerId: Uint8Array | string, extensions?: HandshakeExtensions): void
    extended (ext: number | string, obj: Uint8Array | Record<string, unknown>): void
    keepAlive (): void
    setKeepAlive (enable: boolean): void
    destroy (): this | undefined
    end (data?: unknown): this | undefined

    // streamx Duplex
    write (data: Uint8Array): boolean
    push (data: Uint8Array | null): boolean
    pipe<T extends NodeJS.WritableStream | Wire> (dest: T): T
    _write (data: Uint8Array, cb: (err?: Error | null) => void): void
    _read (cb: (err?: Error | null) => void): void
  }
}

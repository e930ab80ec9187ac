/**
 * TCP for the wire: one listener, outgoing connections, each socket wired to a
 * Peer. Caps the number of connections, refuses banned addresses before a byte
 * is read, and gives every connection a deadline to finish the BitTorrent
 * handshake, the extended handshake and both hellos (Peer's readyTimeoutMs).
 *
 * Incoming connections name their swarm in the handshake; `accept` maps that
 * infohash to what we serve there (or null to refuse). The DHT, which finds
 * peers, lives elsewhere (dht.ts); this module only dials what it is given.
 *
 * Events: peer (Peer) for each incoming peer once ready; warning (err).
 */
import { EventEmitter } from 'node:events'
import net from 'node:net'
import { GtfsError, ProtocolError } from '../errors.ts'
import { logger } from '../log.ts'
import type { AbortOptions } from '../types.ts'
import { Peer, type PeerOptions, type SwarmContext } from './peer.ts'

const log = logger('gtfs:swarm:transport')

export interface TransportOptions {
  /** listen address (default 127.0.0.1) */
  host?: string
  /** listen port (default 0: any free port) */
  port?: number
  /** open connections, both directions (default 64) */
  maxConnections?: number
  /** ms from dialing (or accepting) to both hellos exchanged (default 10 s) */
  connectTimeoutMs?: number
  /** which swarm an incoming connection joins, by the infohash it names (hex) */
  accept?: (infoHash: string) => SwarmContext | null
  /** refuse these "host:port" addresses before reading from them */
  isBanned?: (address: string) => boolean
  /** passed to every Peer (object cap, request deadline) */
  peer?: Pick<PeerOptions, 'maxObjectBytes' | 'requestTimeoutMs' | 'peerId' | 'zlib'>
}

export class Transport extends EventEmitter {
  private server: net.Server | null = null
  private readonly peers = new Set<Peer>()
  private closed = false
  private readonly opts: TransportOptions
  private readonly maxConnections: number
  private readonly connectTimeoutMs: number

  constructor (opts: TransportOptions = {}) {
    super()
    this.opts = opts
    this.maxConnections = opts.maxConnections ?? 64
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000
  }

  get connections (): number { return this.peers.size }

  get address (): { host: string, port: number } | null {
    const a = this.server?.address()
    return a !== null && a !== undefined && typeof a === 'object' ? { host: a.address, port: a.port } : null
  }

  async listen (): Promise<{ host: string, port: number }> {
    if (this.server !== null) throw new GtfsError('EBUSY', 'transport is already listening')
    const server = net.createServer(socket => { this.incoming(socket) })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.opts.port ?? 0, this.opts.host ?? '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
    server.on('error', (err) => { this.emit('warning', err) })
    const a = this.address
    if (a === null) throw new GtfsError('ELISTEN', 'listener has no address')
    log('listening on %s:%d', a.host, a.port)
    return a
  }

  /** Dials a peer and resolves once it is ready to serve and be asked. */
  async connect (host: string, port: number, context: SwarmContext, opts: AbortOptions = {}): Promise<Peer> {
    if (this.closed) throw new GtfsError('ECLOSED', 'transport is closed')
    const address = `${host}:${port}`
    if (this.opts.isBanned?.(address) === true) throw new GtfsError('EBANNED', `peer ${address} is banned`)
    if (this.peers.size >= this.maxConnections) throw new GtfsError('EMAXCONN', `${this.peers.size} connections open, cap ${this.maxConnections}`)
    const socket = net.connect({ host, port })
    socket.setNoDelay(true)
    const peer = new Peer({ ...this.opts.peer, context, address, readyTimeoutMs: this.connectTimeoutMs })
    this.track(peer)
    peer.attach(socket)
    try {
      await peer.whenReady(opts)
    } catch (err) {
      peer.destroy(err instanceof Error ? err : undefined)
      throw err
    }
    return peer
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const p of [...this.peers]) p.destroy()
    const server = this.server
    if (server !== null) await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  }

  private track (peer: Peer): void {
    this.peers.add(peer)
    peer.once('close', () => { this.peers.delete(peer) })
  }

  private incoming (socket: net.Socket): void {
    const address = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`
    if (this.closed || this.peers.size >= this.maxConnections || this.opts.isBanned?.(address) === true || this.opts.accept === undefined) {
      log('refusing %s (%s)', address, this.closed ? 'closed' : this.peers.size >= this.maxConnections ? 'connection cap' : 'banned or not serving')
      socket.destroy()
      return
    }
    socket.setNoDelay(true)
    const peer = new Peer({ ...this.opts.peer, accept: this.opts.accept, address, readyTimeoutMs: this.connectTimeoutMs })
    this.track(peer)
    peer.attach(socket)
    peer.once('ready', () => { this.emit('peer', peer) })
    peer.on('warning', (err: Error) => {
      if (!(err instanceof ProtocolError && err.code === 'EUNSUPPORTED')) this.emit('warning', err)
    })
  }
}

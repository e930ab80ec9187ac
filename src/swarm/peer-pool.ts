/**
 * The peers of one swarm, and who is not welcome in it.
 *
 * - A peer that breaks the protocol (bad hash, cap, encoding, order) is dropped
 *   by Peer itself; the pool bans its address for `banMs` and also its peer id.
 * - A peer whose requests time out `maxTimeouts` times in a row (a slow drip, a
 *   peer that claims objects and never sends) is dropped and banned the same way.
 * - `pick` spreads work by measured throughput: score = bytes/s ÷ (1 + open
 *   requests). A peer not yet measured scores like the best measured one, so
 *   new peers get tried early and a fast peer is not buried under queued work.
 *
 * Bans are by "host:port" by default (`banBy: 'address'`): on loopback, in
 * tests and demos, every peer shares a host. Real deployments can ban whole
 * hosts with `banBy: 'host'`; incoming connections come from ephemeral ports,
 * so for them the peer-id ban and the host ban are what bite.
 *
 * Events: peer (Peer, ready), drop (Peer, reason), ban (key, reason), warning (err, Peer).
 */
import { EventEmitter } from 'node:events'
import { TimeoutError } from '../errors.ts'
import { logger } from '../log.ts'
import type { AbortOptions } from '../types.ts'
import type { Peer } from './peer.ts'

const log = logger('gtfs:swarm:peer-pool')

export interface PeerPoolOptions {
  /** ms a misbehaving peer stays banned (default 10 minutes) */
  banMs?: number
  /** consecutive request timeouts before a peer is dropped and banned (default 3) */
  maxTimeouts?: number
  /** what a ban names (default 'address', i.e. host:port) */
  banBy?: 'address' | 'host'
  now?: () => number
}

export interface BanEntry { key: string, until: number, reason: string }

export class PeerPool extends EventEmitter {
  private readonly peers = new Set<Peer>()
  private readonly bans = new Map<string, BanEntry>()
  private readonly banMs: number
  private readonly maxTimeouts: number
  private readonly banBy: 'address' | 'host'
  private readonly now: () => number
  private closed = false

  constructor (opts: PeerPoolOptions = {}) {
    super()
    this.banMs = opts.banMs ?? 10 * 60_000
    this.maxTimeouts = opts.maxTimeouts ?? 3
    this.banBy = opts.banBy ?? 'address'
    this.now = opts.now ?? Date.now
  }

  get size (): number { return this.peers.size }

  /** Peers that finished their handshakes. */
  ready (): Peer[] {
    const out: Peer[] = []
    for (const p of this.peers) if (p.ready) out.push(p)
    return out
  }

  /** Peers still shaking hands. */
  connecting (): number { return [...this.peers].filter(p => !p.ready && !p.closed).length }

  all (): Peer[] { return [...this.peers] }

  banKey (address: string): string {
    if (this.banBy === 'address') return address
    const i = address.lastIndexOf(':')
    return i > 0 ? address.slice(0, i) : address
  }

  isBanned (address: string): boolean { return this.banEntry(this.banKey(address)) !== null }

  banned (): BanEntry[] {
    return [...this.bans.keys()].map(k => this.banEntry(k)).filter((b): b is BanEntry => b !== null)
  }

  ban (address: string, reason: string, ms = this.banMs): void {
    const key = this.banKey(address)
    this.bans.set(key, { key, until: this.now() + ms, reason })
    log('banned %s for %d ms: %s', key, ms, reason)
    this.emit('ban', key, reason)
    for (const p of this.peers) if (this.banKey(p.address) === key) p.destroy()
  }

  /** Takes a peer into the pool; false (and the peer destroyed) when it is banned or the pool is closed. */
  add (peer: Peer): boolean {
    if (this.closed || peer.closed || this.isBanned(peer.address)) {
      peer.destroy()
      return false
    }
    this.peers.add(peer)
    const onReady = (): void => {
      const id = peer.remotePeerId
      if (id !== null && this.banEntry(`id:${id}`) !== null) { peer.destroy(); return }
      this.emit('peer', peer)
    }
    const onViolation = (err: Error): void => {
      this.emit('warning', err, peer)
      this.ban(peer.address, err.message)
      if (peer.remotePeerId !== null) this.bans.set(`id:${peer.remotePeerId}`, { key: `id:${peer.remotePeerId}`, until: this.now() + this.banMs, reason: err.message })
    }
    const onTimeout = (): void => {
      if (peer.timeouts < this.maxTimeouts) return
      const err = new TimeoutError(`peer ${peer.address}: ${peer.timeouts} requests in a row timed out`)
      this.emit('warning', err, peer)
      peer.destroy(err)
      this.ban(peer.address, err.message)
    }
    const onClose = (reason: Error): void => {
      peer.off('ready', onReady)
      peer.off('violation', onViolation)
      peer.off('timeout', onTimeout)
      this.peers.delete(peer)
      this.emit('drop', peer, reason)
    }
    peer.on('ready', onReady)
    peer.on('violation', onViolation)
    peer.on('timeout', onTimeout)
    peer.once('close', onClose)
    if (peer.ready) onReady()
    return true
  }

  /**
   * The best ready peer that `eligible` allows, by throughput per open request;
   * `load` adds work assigned but not yet sent.
   */
  pick (eligible: (p: Peer) => boolean = () => true, load: (p: Peer) => number = () => 0): Peer | null {
    const ready = this.ready()
    let best = 0
    for (const p of ready) best = Math.max(best, p.throughput)
    // A peer not measured yet is tried first (BitTorrent's optimistic unchoke,
    // in spirit): otherwise the first good peer takes every sequential request
    // and the others are never measured, nor found out when they lie.
    const unmeasured = best > 0 ? best * 2 : 1
    let choice: Peer | null = null
    let choiceScore = -1
    for (const p of ready) {
      if (!eligible(p)) continue
      const score = (p.throughput > 0 ? p.throughput : unmeasured) / (1 + p.inflight + load(p))
      if (score > choiceScore) { choice = p; choiceScore = score }
    }
    return choice
  }

  /** Resolves when a peer becomes ready (or one already is); rejects on abort or close. */
  waitForPeer (opts: AbortOptions = {}): Promise<void> {
    if (this.ready().length > 0) return Promise.resolve()
    return this.waitForChange(opts)
  }

  /** Resolves at the next peer that becomes ready or leaves. */
  waitForChange (opts: AbortOptions = {}): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: unknown): void => {
        this.off('peer', onChange)
        this.off('drop', onChange)
        this.off('close', onChange)
        opts.signal?.removeEventListener('abort', onAbort)
        if (err === undefined) resolve(); else reject(err)
      }
      const onChange = (): void => { done() }
      const onAbort = (): void => { done(opts.signal?.reason) }
      if (opts.signal?.aborted === true) { onAbort(); return }
      this.on('peer', onChange)
      this.on('drop', onChange)
      this.on('close', onChange)
      opts.signal?.addEventListener('abort', onAbort)
    })
  }

  close (): void {
    if (this.closed) return
    this.closed = true
    for (const p of [...this.peers]) p.destroy()
    this.emit('close')
  }

  get isClosed (): boolean { return this.closed }

  private banEntry (key: string): BanEntry | null {
    const b = this.bans.get(key)
    if (b === undefined) return null
    if (b.until <= this.now()) { this.bans.delete(key); return null }
    return b
  }
}

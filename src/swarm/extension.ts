/**
 * The `gtfs` BEP10 extension, in the shape of webtorrent's ut_metadata: a small
 * class that bittorrent-protocol constructs with `wire.use(Ext)`, told about the
 * handshake, the extended handshake and each message, with hard caps and a
 * `warning` event for peer misbehaviour.
 *
 * It owns negotiation and message framing only: it sends our `hello` once the
 * peer's extended handshake names `gtfs`, refuses every message before the
 * peer's `hello` (out of order), decodes each payload strictly, and hands typed
 * messages to its owner (Peer) through `message` events. What a message means
 * is the owner's business.
 *
 * Events:
 *   hello (HelloMessage)         the peer speaks gtfs; requests may flow
 *   message (Message)            any later message
 *   unsupported (reason: string) the peer does not speak gtfs v1 (not misbehaviour)
 *   warning (err, fatal)         misbehaviour; when fatal the wire is already destroyed
 */
import { EventEmitter } from 'node:events'
import type Wire from 'bittorrent-protocol'
import type { HandshakeExtensions, WireExtensionClass } from 'bittorrent-protocol'
import { ProtocolError } from '../errors.ts'
import { logger } from '../log.ts'
import {
  decodeMessage, encodeMessage, encodeMessageParts, EXTENSION_NAME, MAX_MESSAGE_BYTES, PROTOCOL_VERSION,
  type HelloMessage, type Message, type MessageLimits
} from './messages.ts'
import { GtfsWire } from './wire.ts'

const log = logger('gtfs:swarm:extension')

export interface ExtensionOptions extends MessageLimits {
  /** called when bittorrent-protocol constructs the extension for a wire */
  onCreate: (ext: GtfsExtension) => void
  /** our hello, asked for when it is sent (the context may be known only after the handshake) */
  hello: () => HelloMessage
}

export class GtfsExtension extends EventEmitter {
  /** bittorrent-protocol reads `Extension.prototype.name`; a getter lives on the prototype */
  get name (): string { return EXTENSION_NAME }

  remoteHello: HelloMessage | null = null
  failed: Error | null = null
  private helloSent = false
  private peerExtId = 0

  /** A class for `wire.use()` bound to `opts`. */
  static with (opts: ExtensionOptions): WireExtensionClass {
    return class BoundGtfsExtension extends GtfsExtension {
      constructor (wire: Wire) {
        super(wire, opts)
        opts.onCreate(this)
      }
    }
  }

  constructor (readonly wire: Wire, readonly opts: ExtensionOptions) {
    super()
  }

  get ready (): boolean { return this.remoteHello !== null && this.failed === null }

  onHandshake (_infoHash: string, _peerId: string, extensions: HandshakeExtensions): void {
    if (extensions.extended !== true) this.emit('unsupported', 'peer does not support BEP10 extended messages')
  }

  onExtendedHandshake (handshake: Record<string, unknown>): void {
    // bittorrent-protocol calls this only when the peer's `m` names us; it coerces the id with Number()
    const id = this.wire.peerExtendedMapping[EXTENSION_NAME]
    if (!Number.isInteger(id) || id < 1 || id > 255) {
      this.fail(new ProtocolError('EPROTO', `extended handshake maps ${EXTENSION_NAME} to ${String(id)}`))
      return
    }
    this.peerExtId = id
    log('extended handshake v=%s', typeof handshake.v === 'object' ? String(handshake.v) : '?')
    if (!this.helloSent) {
      this.helloSent = true
      this.send(this.opts.hello())
    }
  }

  onMessage (buf: Uint8Array): void {
    if (this.failed !== null) return
    if (buf.length > MAX_MESSAGE_BYTES) {
      this.fail(new ProtocolError('ECAP', `gtfs message of ${buf.length} bytes, cap ${MAX_MESSAGE_BYTES}`))
      return
    }
    let msg: Message
    try {
      msg = decodeMessage(buf, this.opts)
    } catch (err) {
      this.fail(err instanceof Error ? err : new ProtocolError('EPROTO', String(err)))
      return
    }
    if (msg.t === 'hello') {
      if (this.remoteHello !== null) { this.fail(new ProtocolError('EPROTO', 'second hello')); return }
      if (!this.helloSent) { this.fail(new ProtocolError('EPROTO', 'hello before the extended handshake')); return }
      if (!msg.versions.includes(PROTOCOL_VERSION)) {
        this.emit('unsupported', `peer speaks gtfs versions ${msg.versions.join(',')}, not ${PROTOCOL_VERSION}`)
        return
      }
      this.remoteHello = msg
      this.emit('hello', msg)
      return
    }
    if (this.remoteHello === null) {
      this.fail(new ProtocolError('EPROTO', `${msg.t} before hello`))
      return
    }
    this.emit('message', msg)
  }

  /** Sends one message; false when the wire cannot carry it (not negotiated, or failed). */
  send (msg: Message): boolean {
    if (this.peerExtId === 0 || this.failed !== null || this.wire.destroyed) return false
    if (this.wire instanceof GtfsWire) {
      this.wire.sendExtended(this.peerExtId, encodeMessageParts(msg))
      // Bulk (object and state chunks) is gathered into fewer writes; requests, cancels and answers leave now.
      if (msg.t !== 'object' && msg.t !== 'objects' && msg.t !== 'state') this.wire.flush()
    } else {
      this.wire.extended(this.peerExtId, encodeMessage(msg))
    }
    return true
  }

  /** Peer misbehaviour that ends the connection: warn once, destroy the wire. */
  fail (err: Error): void {
    if (this.failed !== null) return
    this.failed = err
    log('peer fault: %s', err.message)
    this.emit('warning', err, true)
    this.wire.destroy()
  }

  /** Misbehaviour worth reporting but not worth a disconnect. */
  warn (err: Error): void {
    this.emit('warning', err, false)
  }
}

/**
 * The client end of a SOCKS5 UDP association (RFC 1928 §7) opened on an upstream proxy: a local
 * UDP socket that talks only to the proxy's relay address, wrapping outgoing datagrams in the
 * SOCKS UDP header and unwrapping the replies. The association lives as long as the control TCP
 * connection; when the proxy closes it, the relay is dead and 'close' is emitted.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import net, { type Socket } from 'node:net';
import { canonicalHost } from './address.js';
import { ignoreSocketError } from './socket-util.js';
import { buildUdpDatagram, parseUdpDatagram } from './udp-datagram.js';

/** One datagram from the relay, SOCKS header stripped. */
export interface Socks5UdpMessage {
  /** Source the proxy wrote in the header (IP literal, or a name if the proxy sends one). */
  host: string;
  port: number;
  data: Buffer;
}

export interface Socks5UdpRelayEvents {
  message: [message: Socks5UdpMessage];
  /** The control connection or the UDP socket ended; the association is unusable. Emitted once. */
  close: [];
}

export class Socks5UdpRelay extends EventEmitter<Socks5UdpRelayEvents> {
  /** Datagrams dropped so far: foreign senders, fragmented or malformed replies, unencodable targets. */
  dropped = 0;
  private closed = false;
  private readonly relayKey: string;

  constructor(
    private readonly control: Socket,
    private readonly udp: dgram.Socket,
    /** Where the proxy relays our datagrams (BND.ADDR:BND.PORT of its reply). */
    readonly relayHost: string,
    readonly relayPort: number,
  ) {
    super();
    this.relayKey = canonicalHost(relayHost);
    udp.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo));
    udp.on('error', () => this.close());
    // Nothing meaningful comes on the control connection after the reply; read it only to see it end.
    control.on('error', ignoreSocketError);
    control.on('end', () => this.close());
    control.on('close', () => this.close());
    control.on('data', () => undefined);
    control.resume();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Sends `data` to host:port through the proxy. Names go in the header as ATYP 3 (the proxy
   * resolves them). Returns false when the datagram cannot be sent (closed, bad port, name over
   * 255 bytes); `onSent` reports per-datagram socket errors (EMSGSIZE …).
   */
  send(host: string, port: number, data: Uint8Array, onSent?: (err: Error | null) => void): boolean {
    if (this.closed || !Number.isInteger(port) || port < 1 || port > 0xffff) return false;
    let datagram: Buffer;
    try {
      datagram = buildUdpDatagram(host, port, data);
    } catch {
      return false;
    }
    this.udp.send(datagram, this.relayPort, this.relayHost, (err) => onSent?.(err ?? null));
    return true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.udp.close();
    } catch {
      // already closed
    }
    this.control.destroy();
    this.emit('close');
  }

  private onDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    // Only the relay may answer: anything else could inject datagrams into the association.
    if (rinfo.port !== this.relayPort || canonicalHost(rinfo.address) !== this.relayKey) {
      this.dropped += 1;
      return;
    }
    let parsed;
    try {
      parsed = parseUdpDatagram(msg);
    } catch {
      this.dropped += 1; // fragmented, truncated or unknown ATYP
      return;
    }
    this.emit('message', { host: parsed.host, port: parsed.port, data: parsed.data });
  }
}

/** Binds the local end of the association in the family of the relay address. */
export function bindRelaySocket(relayHost: string, control: Socket): Promise<dgram.Socket> {
  const family = net.isIPv6(relayHost) ? 6 : 4;
  // Prefer the control connection's local address: proxies (ours included) accept datagrams only
  // from the host that opened the association.
  const local = control.localAddress;
  const localFamily = local === undefined ? 0 : net.isIP(local);
  const bindHost = localFamily === family ? local! : family === 6 ? '::' : '0.0.0.0';
  const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      try {
        socket.close();
      } catch {
        // already closed
      }
      reject(err);
    };
    socket.once('error', onError);
    socket.bind(0, bindHost, () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

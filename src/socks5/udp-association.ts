/**
 * The SOCKS-side UDP relay of one UDP ASSOCIATE (RFC 1928 §7): a UDP socket that accepts
 * datagrams only from the client that owns the control connection, strips their SOCKS header,
 * and wraps replies in one. It lives as long as the control TCP connection, or until it has been
 * idle for `idleTimeoutMs`.
 */
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { canonicalHost } from './address.js';
import { Socks5Error } from './errors.js';
import type { UdpAssociation, UdpDatagram } from './types.js';
import { buildUdpDatagram, parseUdpDatagram } from './udp-datagram.js';

export interface UdpRelayOptions {
  /** Address to bind the relay socket on (the SOCKS listener's host). */
  bindHost: string;
  family: 4 | 6;
  idleTimeoutMs: number;
}

/** Events of a UdpRelay, for `relay.on(...)` with typed arguments. */
export interface UdpRelayEvents {
  /** A datagram from the SOCKS client, header stripped. */
  datagram: [datagram: UdpDatagram];
  /** A client datagram was dropped, and why (for debug logs; nobody has to listen). */
  drop: [reason: Socks5Error];
  /** The control connection closed or the association idled out; sockets are closed already. Emitted once. */
  close: [];
}

export class UdpRelay extends EventEmitter<UdpRelayEvents> implements UdpAssociation {
  /** Client datagrams dropped so far (foreign sender, fragmented, truncated, bad ATYP). */
  dropped = 0;

  private readonly clientHost: string;
  /** Learned from the client's first datagram; replies before that have nowhere to go. */
  private clientPort: number | null = null;
  private readonly idleTimer: NodeJS.Timeout;
  private closed = false;

  private constructor(
    private readonly udp: dgram.Socket,
    private readonly control: Socket,
    idleTimeoutMs: number,
  ) {
    super();
    this.clientHost = canonicalHost(control.remoteAddress ?? '');
    this.idleTimer = setTimeout(() => this.close(), idleTimeoutMs);
    udp.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    udp.on('error', () => this.close());
    // The control connection carries nothing after the reply; read it only to notice its end.
    control.on('end', () => this.close());
    control.on('close', () => this.close());
    control.resume();
  }

  /** Binds the relay socket; rejects with ERR_SOCKS5_UDP_BIND. */
  static async open(control: Socket, options: UdpRelayOptions): Promise<UdpRelay> {
    const udp = dgram.createSocket(options.family === 6 ? 'udp6' : 'udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(0, options.bindHost, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      throw new Socks5Error('ERR_SOCKS5_UDP_BIND', `cannot bind UDP relay on ${options.bindHost}`, { cause: err });
    }
    if (control.destroyed) {
      udp.close();
      throw new Socks5Error('ERR_SOCKS5_SOCKET_CLOSED', 'control connection closed before the UDP relay was ready');
    }
    return new UdpRelay(udp, control, options.idleTimeoutMs);
  }

  address(): AddressInfo {
    return this.udp.address();
  }

  send(fromHost: string, fromPort: number, data: Buffer): void {
    if (this.closed || this.clientPort === null) return;
    let datagram: Buffer;
    try {
      datagram = buildUdpDatagram(fromHost, fromPort, data);
    } catch {
      return; // A source that cannot be written in a SOCKS header (bad port, name > 255 bytes).
    }
    this.idleTimer.refresh();
    // Errors (e.g. EMSGSIZE) concern this datagram only; UDP is lossy anyway.
    this.udp.send(datagram, this.clientPort, this.clientHost, () => undefined);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.udp.close();
    this.control.destroy();
    this.emit('close');
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    if (canonicalHost(rinfo.address) !== this.clientHost || (this.clientPort !== null && rinfo.port !== this.clientPort)) {
      this.drop(new Socks5Error('ERR_SOCKS5_UDP_FOREIGN', `datagram from ${rinfo.address}:${rinfo.port} is not from the client`));
      return;
    }
    let datagram;
    try {
      datagram = parseUdpDatagram(msg);
    } catch (err) {
      this.drop(err instanceof Socks5Error ? err : new Socks5Error('ERR_SOCKS5_TRUNCATED', 'unparsable datagram'));
      return;
    }
    this.clientPort ??= rinfo.port;
    this.idleTimer.refresh();
    this.emit('datagram', datagram);
  }

  private drop(reason: Socks5Error): void {
    this.dropped += 1;
    // Only for debug logs; nobody has to listen.
    this.emit('drop', reason);
  }
}

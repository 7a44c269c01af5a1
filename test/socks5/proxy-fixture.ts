// Plays the relay for Socks5Server tests: accepts CONNECT requests by dialling the target (names
// in `aliases` map to 127.0.0.1) and UDP ASSOCIATE requests by forwarding datagrams from a local
// UDP socket. Tracks everything it opens so close() leaves no handle behind.
import dgram from 'node:dgram';
import net from 'node:net';

import { Socks5Server } from '../../src/socks5/server.js';
import type { Socks5Error } from '../../src/socks5/errors.js';
import type { ReplyCode, SocksRequest, Socks5ServerOptions, UdpAssociation } from '../../src/socks5/types.js';

export interface ProxyFixtureOptions extends Partial<Socks5ServerOptions> {
  /** Reject every request with this code instead of serving it. */
  rejectWith?: ReplyCode;
  /** Domain names that mean 127.0.0.1. */
  aliases?: readonly string[];
}

export class ProxyFixture {
  readonly requests: SocksRequest[] = [];
  readonly handshakeErrors: Socks5Error[] = [];
  readonly associations: UdpAssociation[] = [];
  readonly server: Socks5Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly udpSockets = new Set<dgram.Socket>();

  constructor(private readonly options: ProxyFixtureOptions = {}) {
    this.server = new Socks5Server({ port: 0, ...options }, (req) => this.onRequest(req));
    this.server.on('handshakeError', (err) => this.handshakeErrors.push(err));
  }

  async start(): Promise<number> {
    return (await this.server.listen()).port;
  }

  async close(): Promise<void> {
    for (const association of this.associations) association.close();
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([...this.udpSockets].map((udp) => new Promise<void>((resolve) => udp.close(() => resolve()))));
    this.udpSockets.clear();
    await this.server.close();
  }

  private track(socket: net.Socket): net.Socket {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
    return socket;
  }

  private onRequest(req: SocksRequest): void {
    this.requests.push(req);
    this.track(req.socket);
    if (this.options.rejectWith !== undefined) {
      req.reject(this.options.rejectWith);
      return;
    }
    if (req.command === 'connect') {
      const host = this.options.aliases?.includes(req.host) ? '127.0.0.1' : req.host;
      const upstream = this.track(net.connect({ host, port: req.port, allowHalfOpen: true }));
      upstream.once('error', () => req.reject(0x05));
      upstream.once('connect', () => {
        const client = req.accept();
        if (req.head.length > 0) upstream.write(req.head);
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
      return;
    }
    void req.accept().then(
      (association) => {
        this.associations.push(association);
        const udp = dgram.createSocket('udp4');
        this.udpSockets.add(udp);
        udp.bind(0, '127.0.0.1');
        udp.on('message', (msg, rinfo) => association.send(rinfo.address, rinfo.port, msg));
        association.on('datagram', (d) => {
          const host = this.options.aliases?.includes(d.host) ? '127.0.0.1' : d.host;
          udp.send(d.data, d.port, host);
        });
        association.on('close', () => {
          if (this.udpSockets.delete(udp)) udp.close();
        });
      },
      () => undefined,
    );
  }
}

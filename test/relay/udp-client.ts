// A SOCKS5 UDP ASSOCIATE client for relay tests that keeps its control connection open, so tests
// can send several datagrams, send raw (malformed) ones, and close the control connection.
import dgram from 'node:dgram';
import type net from 'node:net';

import { SocksClient } from 'socks';

import { socksAssociate } from '../helpers/socks.js';

export interface UdpReply {
  host: string;
  port: number;
  data: Buffer;
}

export class UdpAssociateClient {
  private readonly replies: UdpReply[] = [];
  private readonly waiters: Array<(reply: UdpReply) => void> = [];
  private closed = false;

  private constructor(
    readonly control: net.Socket,
    private readonly udp: dgram.Socket,
    readonly relayPort: number,
  ) {
    udp.on('message', (msg) => {
      let reply: UdpReply;
      try {
        const frame = SocksClient.parseUDPFrame(msg);
        reply = { host: frame.remoteHost.host, port: frame.remoteHost.port, data: frame.data };
      } catch {
        return;
      }
      const waiter = this.waiters.shift();
      if (waiter) waiter(reply);
      else this.replies.push(reply);
    });
  }

  static async open(proxyPort: number, timeoutMs = 10_000): Promise<UdpAssociateClient> {
    const { control: socket, remoteHost } = await socksAssociate(proxyPort, timeoutMs);
    if (!remoteHost) throw new Error('proxy returned no UDP relay address');
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
    return new UdpAssociateClient(socket, udp, remoteHost.port);
  }

  /** Sends `data` for `host:port` with a well-formed SOCKS UDP header. */
  send(host: string, port: number, data: Buffer): void {
    this.sendRaw(SocksClient.createUDPFrame({ remoteHost: { host, port }, data }));
  }

  sendRaw(datagram: Buffer): void {
    this.udp.send(datagram, this.relayPort, '127.0.0.1');
  }

  /** The next reply datagram (or one already received and not yet taken). */
  next(timeoutMs = 5000): Promise<UdpReply> {
    const ready = this.replies.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise<UdpReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(onReply), 1);
        reject(new Error(`no UDP reply within ${timeoutMs} ms`));
      }, timeoutMs);
      const onReply = (reply: UdpReply): void => {
        clearTimeout(timer);
        resolve(reply);
      };
      this.waiters.push(onReply);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.control.destroy();
    this.udp.close();
  }
}

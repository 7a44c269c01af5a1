// A SOCKS5 proxy with UDP ASSOCIATE for tests, built on the project's own Socks5Server: every
// association gets one dgram socket toward the targets; datagrams and associations are counted so
// tests can prove traffic went through it. It can also refuse UDP ASSOCIATE (reply 0x07).
import dgram from 'node:dgram';
import net from 'node:net';

import { Socks5Server } from '../../src/socks5/server.js';
import { Reply, type Socks5Credentials, type SocksRequest } from '../../src/socks5/types.js';
import { LOCALHOST } from './net.js';

export interface UdpUpstreamProxyOptions {
  credentials?: Socks5Credentials;
  /** Answer UDP ASSOCIATE with 0x07 (command not supported). */
  refuseUdp?: boolean;
}

export interface UdpUpstreamProxy {
  readonly port: number;
  /** Datagrams the proxy relayed toward targets. */
  readonly datagramsOut: number;
  /** Datagrams the proxy relayed back to its client. */
  readonly datagramsBack: number;
  readonly associationsOpened: number;
  readonly associationsOpen: number;
  readonly udpRequests: number;
  close(): Promise<void>;
}

export async function startUdpUpstreamProxy(options: UdpUpstreamProxyOptions = {}): Promise<UdpUpstreamProxy> {
  let datagramsOut = 0;
  let datagramsBack = 0;
  let associationsOpened = 0;
  let udpRequests = 0;
  const open = new Set<{ close(): void }>();

  const onRequest = (req: SocksRequest): void => {
    if (req.command !== 'udp') {
      req.reject(Reply.CommandNotSupported);
      return;
    }
    udpRequests += 1;
    if (options.refuseUdp) {
      req.reject(Reply.CommandNotSupported);
      return;
    }
    void req.accept().then(
      (association) => {
        associationsOpened += 1;
        const outbound = dgram.createSocket('udp4');
        outbound.on('error', () => undefined);
        outbound.bind(0, LOCALHOST);
        const entry = { close: () => association.close() };
        open.add(entry);
        association.on('datagram', (d) => {
          // The test targets are IPv4 loopback; a name is resolved the simple way.
          const host = d.addressType === 'domain' ? LOCALHOST : d.host;
          if (!net.isIPv4(host)) return;
          datagramsOut += 1;
          outbound.send(d.data, d.port, host);
        });
        outbound.on('message', (data, rinfo) => {
          datagramsBack += 1;
          association.send(rinfo.address, rinfo.port, data);
        });
        association.on('close', () => {
          open.delete(entry);
          outbound.close();
        });
      },
      () => undefined,
    );
  };

  const server = new Socks5Server({ host: LOCALHOST, port: 0, credentials: options.credentials }, onRequest);
  const address = await server.listen();
  return {
    port: address.port,
    get datagramsOut() {
      return datagramsOut;
    },
    get datagramsBack() {
      return datagramsBack;
    },
    get associationsOpened() {
      return associationsOpened;
    },
    get associationsOpen() {
      return open.size;
    },
    get udpRequests() {
      return udpRequests;
    },
    async close() {
      for (const entry of [...open]) entry.close();
      await server.close();
    },
  };
}

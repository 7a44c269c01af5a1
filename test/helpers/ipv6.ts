// IPv6 loopback fixtures: a probe (some CI containers have no ::1) and echo servers bound to ::1.
import dgram from 'node:dgram';
import net from 'node:net';

import { startEchoServer, startUdpEchoServer, type EchoServer, type UdpEchoServer } from './net.js';

export const LOCALHOST6 = '::1';

let probed: Promise<boolean> | undefined;

/** True when a TCP and a UDP socket can be bound to ::1 (probed once per process). */
export function hasIPv6Loopback(): Promise<boolean> {
  probed ??= (async () => {
    try {
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, LOCALHOST6, resolve);
      });
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const udp = dgram.createSocket('udp6');
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(0, LOCALHOST6, resolve);
      });
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      return true;
    } catch {
      return false;
    }
  })();
  return probed;
}

/** TCP echo server on [::1]. */
export function startEchoServer6(): Promise<EchoServer> {
  return startEchoServer(LOCALHOST6);
}

/** UDP echo server on [::1]. */
export function startUdpEchoServer6(): Promise<UdpEchoServer> {
  return startUdpEchoServer(LOCALHOST6);
}

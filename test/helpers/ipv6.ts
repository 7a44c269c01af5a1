// IPv6 loopback fixtures: a probe (some CI containers have no ::1) and echo servers bound to ::1.
import dgram from 'node:dgram';
import net from 'node:net';

import type { EchoServer, UdpEchoServer } from './net.js';

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
export async function startEchoServer6(): Promise<EchoServer> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    connections += 1;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOCALHOST6, resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  let closing: Promise<void> | undefined;
  return {
    host: LOCALHOST6,
    port,
    get connections() {
      return connections;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      });
      return closing;
    },
  };
}

/** UDP echo server on [::1]. */
export async function startUdpEchoServer6(): Promise<UdpEchoServer> {
  let datagrams = 0;
  const socket = dgram.createSocket('udp6');
  socket.on('message', (msg, rinfo) => {
    datagrams += 1;
    socket.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, LOCALHOST6, resolve);
  });
  socket.on('error', () => undefined);
  let closing: Promise<void> | undefined;
  return {
    host: LOCALHOST6,
    port: socket.address().port,
    get datagrams() {
      return datagrams;
    },
    close() {
      closing ??= new Promise<void>((resolve) => socket.close(() => resolve()));
      return closing;
    },
  };
}

// A SOCKS5 server (our src/socks5 protocol layer) that dials every CONNECT target directly: an
// upstream proxy for `-x socks5://...` tests that records which targets it was asked for.
import net from 'node:net';

import { Socks5Server } from '../../src/socks5/server.js';
import { Reply, type SocksConnectRequest, type SocksRequest } from '../../src/socks5/types.js';
import { LOCALHOST } from './net.js';

export interface DirectSocksServer {
  readonly port: number;
  /** `host:port` of every CONNECT request, in arrival order. */
  readonly targets: readonly string[];
  close(): Promise<void>;
}

export async function startDirectSocksServer(): Promise<DirectSocksServer> {
  const targets: string[] = [];
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };

  const relay = (req: SocksConnectRequest): void => {
    targets.push(`${req.host}:${req.port}`);
    track(req.socket);
    const outbound = net.connect({ host: req.host, port: req.port, allowHalfOpen: true });
    track(outbound);
    let connected = false;
    outbound.once('error', () => {
      // Only a failed dial still needs an answer; later errors just close both sides.
      if (!connected) req.reject(Reply.ConnectionRefused);
    });
    outbound.once('connect', () => {
      connected = true;
      const client = req.accept();
      if (req.head.length > 0) outbound.write(req.head);
      client.pipe(outbound);
      outbound.pipe(client);
      client.resume();
      client.once('close', () => outbound.destroy());
      outbound.once('close', () => client.destroy());
    });
  };

  const server = new Socks5Server({ host: LOCALHOST, port: 0, httpConnect: false }, (req: SocksRequest) => {
    if (req.command === 'connect') relay(req);
    else req.reject(Reply.CommandNotSupported);
  });
  const { port } = await server.listen();
  let closing: Promise<void> | undefined;
  return {
    port,
    targets,
    close() {
      closing ??= (async () => {
        await server.close();
        for (const socket of sockets) socket.destroy();
      })();
      return closing;
    },
  };
}

// Two Link objects joined by a real WebSocket on 127.0.0.1 (no authentication step): `server` is
// the accepting end, `client` the dialing end. close() tears everything down and waits for both
// links to report 'close'.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { WebSocket, WebSocketServer } from 'ws';

import { Link, type LinkOptions } from '../../src/relay/link.js';
import { RelayCounters } from '../../src/relay/counters.js';

export interface LinkPair {
  server: Link;
  client: Link;
  /** Separate counters per end, so tests can tell the two sides apart. */
  serverCounters: RelayCounters;
  clientCounters: RelayCounters;
  /** The WebSockets under the links; tests may add 'message' listeners to watch the wire. */
  serverWs: WebSocket;
  clientWs: WebSocket;
  close(): Promise<void>;
}

export async function createLinkPair(options: LinkOptions = {}): Promise<LinkPair> {
  const httpServer = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ noServer: true });
  const serverCounters = new RelayCounters();
  const clientCounters = new RelayCounters();
  const rawSockets = new Set<Socket>();
  httpServer.on('connection', (socket: Socket) => {
    rawSockets.add(socket);
    socket.once('close', () => rawSockets.delete(socket));
  });

  const serverEnd = new Promise<{ link: Link; ws: WebSocket }>((resolve) => {
    httpServer.on('upgrade', (req, socket, head) => {
      const tcp = socket as Socket;
      wss.handleUpgrade(req, tcp, head, (ws) => resolve({ link: new Link(ws, tcp, { ...options, counters: serverCounters }), ws }));
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;

  const ws = new WebSocket(`ws://127.0.0.1:${port}/socket`);
  const clientLink = await new Promise<Link>((resolve, reject) => {
    let socket: Socket | undefined;
    ws.once('upgrade', (res) => {
      socket = res.socket as Socket;
    });
    ws.once('open', () => {
      ws.off('error', reject);
      if (!socket) reject(new Error('no socket after upgrade'));
      else resolve(new Link(ws, socket, { ...options, counters: clientCounters }));
    });
    ws.once('error', reject);
  });
  const { link: server, ws: serverWs } = await serverEnd;

  let closing: Promise<void> | undefined;
  return {
    server,
    client: clientLink,
    serverCounters,
    clientCounters,
    serverWs,
    clientWs: ws,
    close() {
      closing ??= (async () => {
        const closed = [server, clientLink].map((link) =>
          link.isClosed ? Promise.resolve() : new Promise<void>((resolve) => link.once('close', () => resolve())),
        );
        server.terminate();
        clientLink.terminate();
        await Promise.all(closed);
        for (const socket of rawSockets) socket.destroy();
        wss.close();
        await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      })();
      return closing;
    },
  };
}

// Embedding linksocks-ts in a Node program: the proxy shares an existing HTTP server with the app,
// and a client in the same program opens a SOCKS5 port through it. (Run as a test by the suite.)
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { LinkSocksClient, LinkSocksServer } from '../src/index.js';

export async function startEmbedded(): Promise<{ appPort: number; socksPort: number; stop(): Promise<void> }> {
  // The application's own HTTP server; LinkSocks takes /socket and the API paths on it.
  const app = http.createServer();
  const server = new LinkSocksServer({ httpServer: app });
  server.addForwardToken('example-token');
  // Typed events: e.g. account traffic per target when a channel ends.
  const trafficByTarget = new Map<string, number>();
  server.on('channel-close', (c) => {
    trafficByTarget.set(c.target, (trafficByTarget.get(c.target) ?? 0) + c.bytesToLink + c.bytesFromLink);
  });
  await server.start();
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  const appPort = (app.address() as AddressInfo).port;

  const client = new LinkSocksClient({ url: `ws://127.0.0.1:${appPort}`, token: 'example-token', socksPort: 0 });
  await client.start();

  return {
    appPort,
    socksPort: client.socksAddress()!.port,
    async stop() {
      await client.close();
      await server.close();
      await new Promise<void>((resolve) => app.close(() => resolve()));
    },
  };
}

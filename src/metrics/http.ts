import http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { keysEqual } from '../util/secrets.js';

/** Answers a Prometheus scrape; `apiKey` (X-API-Key or Bearer) is required when given. */
export async function answerScrape(registry: Registry, req: IncomingMessage, res: ServerResponse, apiKey?: string): Promise<void> {
  if (apiKey !== undefined && !keysEqual(presentedKey(req), apiKey)) {
    res.writeHead(401, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('Unauthorized\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET' });
    res.end();
    return;
  }
  try {
    const body = await registry.metrics();
    res.writeHead(200, { 'Content-Type': registry.contentType });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch (err) {
    res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end(`metrics failed: ${err instanceof Error ? err.message : String(err)}\n`);
  }
}

function presentedKey(req: IncomingMessage): string {
  const header = req.headers['x-api-key'];
  if (typeof header === 'string') return header;
  const auth = req.headers.authorization ?? '';
  return auth.startsWith('Bearer ') ? auth.slice(7) : '';
}

/** A small HTTP listener serving only `/metrics` (`--metrics-listen HOST:PORT`). */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<{ address: AddressInfo; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('404 page not found\n');
      return;
    }
    void answerScrape(registry, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

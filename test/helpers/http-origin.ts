// A small HTTP origin server (node:http) that records what a proxy delivered: request line, headers
// as received, the body's length and SHA-256, and which TCP connection carried each request (to
// assert connection reuse). Paths choose the response:
//   /bytes/N          N payload bytes with Content-Length
//   /chunked/N        N payload bytes, chunked (no Content-Length)
//   /html?img=URL     an HTML page showing the image at URL (for browsers)
//   anything else     `METHOD URL LENGTH SHA256\n` of the request
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { makePayload } from './payload.js';

export interface RecordedRequest {
  method: string;
  url: string;
  httpVersion: string;
  /** Raw header lines as received (name, value pairs). */
  rawHeaders: string[];
  headers: http.IncomingHttpHeaders;
  bodyLength: number;
  bodySha256: string;
  /** Index of the TCP connection, in accept order (equal indexes = connection reused). */
  connection: number;
}

export interface RecordingOrigin {
  readonly port: number;
  readonly requests: readonly RecordedRequest[];
  /** TCP connections accepted so far. */
  readonly connections: number;
  url(path: string): string;
  close(): Promise<void>;
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function startRecordingOrigin(host = '127.0.0.1'): Promise<RecordingOrigin> {
  const requests: RecordedRequest[] = [];
  const sockets = new Map<Socket, number>();
  let connections = 0;
  const server = http.createServer((req, res) => {
    const hash = createHash('sha256');
    let length = 0;
    req.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
    });
    req.on('end', () => {
      const record: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        httpVersion: req.httpVersion,
        rawHeaders: req.rawHeaders,
        headers: req.headers,
        bodyLength: length,
        bodySha256: hash.digest('hex'),
        connection: sockets.get(req.socket) ?? -1,
      };
      requests.push(record);
      const bytes = /^\/bytes\/([0-9]+)$/.exec(record.url);
      const chunked = /^\/chunked\/([0-9]+)$/.exec(record.url);
      if (bytes) {
        const payload = makePayload(Number(bytes[1]), 5);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': payload.length, 'x-sha256': sha256(payload) });
        res.end(req.method === 'HEAD' ? undefined : payload);
      } else if (record.url.startsWith('/html?img=')) {
        const img = decodeURIComponent(record.url.slice('/html?img='.length));
        const page = `<!doctype html><html><body><p id="marker">proxied page</p><img src="${img}"></body></html>`;
        res.writeHead(200, { 'content-type': 'text/html', 'content-length': Buffer.byteLength(page) });
        res.end(page);
      } else if (chunked) {
        const payload = makePayload(Number(chunked[1]), 6);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-sha256': sha256(payload) });
        for (let at = 0; at < payload.length; at += 100_000) res.write(payload.subarray(at, at + 100_000));
        res.end();
      } else {
        const text = `${record.method} ${record.url} ${length} ${record.bodySha256}\n`;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }
    });
  });
  server.on('connection', (socket: Socket) => {
    sockets.set(socket, connections);
    connections += 1;
    socket.once('close', () => sockets.delete(socket));
  });
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  const hostInUrl = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    port,
    requests,
    get connections() {
      return connections;
    },
    url: (path: string) => `http://${hostInUrl}:${port}${path}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

// Local network fixtures for tests: small TCP/UDP/HTTP servers bound to 127.0.0.1 that track
// their sockets so close() never leaves a handle (and therefore mocha) hanging.
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import type { EventEmitter } from 'node:events';
import http from 'node:http';
import net from 'node:net';

import { makePayload } from './payload.js';

export const LOCALHOST = '127.0.0.1';

export interface TestServer {
  readonly host: string;
  readonly port: number;
  /** Destroys every open socket and stops listening. Safe to call twice. */
  close(): Promise<void>;
}

export interface EchoServer extends TestServer {
  /** Number of connections accepted so far. */
  readonly connections: number;
}

/** What a sink connection received, reported once the peer sent FIN (or the socket closed). */
export interface SinkReport {
  bytes: number;
  sha256: string;
}

export interface SinkServer extends TestServer {
  readonly connections: number;
  /** Reports of finished connections, in completion order. */
  readonly reports: readonly SinkReport[];
  /** Resolves with the report of the next connection to finish (or an already finished one not yet taken). */
  nextReport(timeoutMs?: number): Promise<SinkReport>;
}

export interface HttpTestServer extends TestServer {
  readonly body: string;
  readonly url: string;
  readonly requests: number;
}

export interface UdpEchoServer {
  readonly host: string;
  readonly port: number;
  readonly datagrams: number;
  close(): Promise<void>;
}

/** Keeps the set of live sockets of a server so close() can destroy them. */
function trackSockets(server: net.Server): Set<net.Socket> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // Peers (proxies under test) may reset connections; that must not crash the test process.
    socket.on('error', () => undefined);
  });
  return sockets;
}

/** Listens (on 127.0.0.1 and a free port unless told) and resolves with the port; a listen error rejects. */
export async function listenLocal(server: net.Server, port = 0, host = LOCALHOST): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  return address.port;
}

/** A close function for a test server: destroys its tracked sockets, then closes it; safe to call twice. */
export function closer(server: net.Server, sockets: Set<net.Socket>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => {
    closing ??= new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      if (!server.listening) {
        resolve();
        return;
      }
      server.close(() => resolve());
    });
    return closing;
  };
}

/**
 * TCP echo server. allowHalfOpen: after the client's FIN it finishes echoing, then ends its side,
 * so a client can half-close and still read everything back.
 */
export async function startEchoServer(host = LOCALHOST): Promise<EchoServer> {
  let connections = 0;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    connections += 1;
    socket.pipe(socket);
  });
  const sockets = trackSockets(server);
  const port = await listenLocal(server, 0, host);
  return {
    host,
    port,
    get connections() {
      return connections;
    },
    close: closer(server, sockets),
  };
}

/** TCP server that swallows everything and reports byte count and SHA-256 per connection. */
export async function startSinkServer(): Promise<SinkServer> {
  let connections = 0;
  const reports: SinkReport[] = [];
  let taken = 0;
  const waiters: Array<(report: SinkReport) => void> = [];
  const publish = (report: SinkReport): void => {
    reports.push(report);
    const waiter = waiters.shift();
    if (waiter) {
      taken += 1;
      waiter(report);
    }
  };
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    connections += 1;
    const hash = createHash('sha256');
    let bytes = 0;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      publish({ bytes, sha256: hash.digest('hex') });
      socket.end();
    };
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    socket.once('end', finish);
    socket.once('close', finish);
  });
  const sockets = trackSockets(server);
  const port = await listenLocal(server);
  return {
    host: LOCALHOST,
    port,
    get connections() {
      return connections;
    },
    reports,
    nextReport(timeoutMs = 10_000) {
      if (taken < reports.length) {
        const report = reports[taken];
        taken += 1;
        return Promise.resolve(report as SinkReport);
      }
      return withTimeout(new Promise<SinkReport>((resolve) => waiters.push(resolve)), timeoutMs, 'sink report');
    },
    close: closer(server, sockets),
  };
}

/** TCP server that sends `payload` (or `payload` pseudo-random bytes) on each connection, then ends. */
export async function startSourceServer(payload: Buffer | number): Promise<TestServer & { readonly payload: Buffer }> {
  const data = typeof payload === 'number' ? makePayload(payload) : payload;
  const server = net.createServer((socket) => {
    socket.end(data);
  });
  const sockets = trackSockets(server);
  const port = await listenLocal(server);
  return { host: LOCALHOST, port, payload: data, close: closer(server, sockets) };
}

/** Plain HTTP server answering every request with 200 and a known body. */
export async function startHttpServer(body = 'linksocks-test-body\n'): Promise<HttpTestServer> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests += 1;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  // Without this, keep-alive sockets of clients keep server.close() waiting.
  server.keepAliveTimeout = 1000;
  const sockets = trackSockets(server);
  const port = await listenLocal(server);
  return {
    host: LOCALHOST,
    port,
    body,
    url: `http://${LOCALHOST}:${port}/`,
    get requests() {
      return requests;
    },
    close: closer(server, sockets),
  };
}

/** UDP server that sends each datagram back to its sender. */
export async function startUdpEchoServer(host = LOCALHOST): Promise<UdpEchoServer> {
  let datagrams = 0;
  const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
  socket.on('message', (msg, rinfo) => {
    datagrams += 1;
    socket.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  socket.on('error', () => undefined);
  let closing: Promise<void> | undefined;
  return {
    host,
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

/**
 * A TCP port that was free a moment ago (bind port 0, read it, close). There is an unavoidable
 * race with other processes; tests use it only for peers that cannot report their own port.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  const port = await listenLocal(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves with the first event's arguments; rejects after timeoutMs or on an 'error' event. */
export function waitForEvent<T extends unknown[] = unknown[]>(
  emitter: EventEmitter,
  name: string,
  timeoutMs = 5000,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onEvent = (...args: unknown[]): void => {
      cleanup();
      resolve(args as T);
    };
    const onError = (err: unknown): void => {
      cleanup();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for '${name}'`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      emitter.off(name, onEvent);
      if (name !== 'error') emitter.off('error', onError);
    };
    emitter.on(name, onEvent);
    if (name !== 'error') emitter.on('error', onError);
  });
}

/** Races `promise` against a timer (failure guard only; the timer is always cleared). */
export function withTimeout<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

/**
 * Resolves once a TCP connection to host:port succeeds (the probe is closed at once). Retries
 * refused connections until `timeoutMs`: for listeners opened by another process at a moment it
 * does not announce (e.g. a Go server opens a reverse SOCKS port when the first provider joins).
 */
export async function waitForPort(port: number, timeoutMs = 10_000, host = LOCALHOST): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const socket = net.connect(port, host);
    try {
      await waitForEvent(socket, 'connect', Math.max(1, deadline - Date.now()));
      return;
    } catch (err) {
      if (Date.now() >= deadline) throw new Error(`port ${host}:${port} not accepting connections within ${timeoutMs} ms: ${String(err)}`);
      // Back off a little between refused attempts instead of spinning.
      await new Promise<void>((resolve) => setTimeout(resolve, 25));
    } finally {
      socket.destroy();
    }
  }
}

/**
 * How `socket` ends: the error code (a reset reads as 'ECONNRESET'), 'end' for a FIN, or 'close'
 * when it was closed locally. Note that a Node reader may see a reset that arrives while received
 * data is still unread as an 'end' (libuv); use it where no data is in flight.
 */
export function endingOf(socket: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.once('end', () => resolve('end'));
    socket.once('close', () => resolve('close'));
    socket.resume();
  });
}

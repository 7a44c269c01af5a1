/**
 * The server's one HTTP(S) port: WebSocket upgrades on `/socket` and `/socket/…`, Prometheus
 * metrics on `/metrics`, and every other request to the token API. Wrong paths get what Go's
 * server answers; upgrades are refused with 503 while draining and 429 for an address that failed
 * to authenticate too often.
 */
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { Logger } from '../log.js';
import { answerScrape } from '../metrics/http.js';
import { tooManyRequestsResponse, type AuthRateLimiter } from './auth-rate-limit.js';
import type { ResolvedServerOptions } from './options.js';

/** Go's reader limit; a bigger message closes the WebSocket with 1009 as Go does. */
const MAX_MESSAGE_SIZE = 32 * 1024 * 1024;
/** Tight header deadlines: a client trickling its upgrade request must not hold a socket for long. */
const HTTP_LIMITS = { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 };

const DRAINING_RESPONSE = 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n';
/** What Go's mux answers for an unknown path. */
const NOT_FOUND_RESPONSE =
  'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\nConnection: close\r\n\r\n404 page not found\n';

export interface HttpFrontOptions {
  server: ResolvedServerOptions;
  /** The token API, for every request that is neither the WebSocket path nor `/metrics`. */
  api: (req: IncomingMessage, res: ServerResponse) => void;
  metricsRegistry: Registry | undefined;
  authLimiter: AuthRateLimiter;
  logger: Logger;
  isDraining(): boolean;
  isClosing(): boolean;
  /** An upgrade on the WebSocket path that was accepted. */
  onWebSocket(ws: WebSocket, req: IncomingMessage, socket: Socket): void;
  /** The HTTP(S) server this front created failed after it started listening. */
  onError(err: Error): void;
  /**
   * Cluster mode: an upgrade on the instance-link path (`clusterPath`), after the rate limit. The
   * handler answers a refusal on `socket` itself or calls `accept` to complete the upgrade.
   */
  onClusterUpgrade?(req: IncomingMessage, socket: Socket, accept: (onSocket: (ws: WebSocket) => void) => void): void;
  clusterPath?: string;
}

export class HttpFront {
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_MESSAGE_SIZE });
  private server: HttpServer | undefined;
  private ownsServer = false;
  /** Set while listen() is pending: a server error then fails start() instead. */
  private failListen: ((err: Error) => void) | undefined;

  constructor(private readonly options: HttpFrontOptions) {}

  /** Serves on the given `httpServer`, or creates one (HTTPS with `tls`) and listens. */
  async start(): Promise<void> {
    const { server: opts } = this.options;
    const tls = opts.tls;
    const server =
      opts.httpServer ?? (tls ? https.createServer({ ...HTTP_LIMITS, cert: tls.cert, key: tls.key }) : http.createServer(HTTP_LIMITS));
    this.ownsServer = !opts.httpServer;
    this.server = server;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    if (!this.ownsServer) return; // a server given to us has its owner's 'error' listener
    // Attached for the server's whole life: an error after listening (accept failing, …) must not
    // be thrown as an unhandled 'error' event.
    server.on('error', (err: Error) => {
      const fail = this.failListen;
      this.failListen = undefined;
      if (fail) fail(err);
      else this.options.onError(err);
    });
    await new Promise<void>((resolve, reject) => {
      this.failListen = reject;
      server.listen(opts.port, opts.host, () => {
        this.failListen = undefined;
        resolve();
      });
    });
  }

  /** Replaces the TLS certificate for new connections; open ones keep theirs. */
  reloadTls(tls: { cert: string | Buffer; key: string | Buffer }): void {
    const server = this.server;
    if (!(server instanceof https.Server)) throw new Error('the server was not started with TLS');
    server.setSecureContext({ cert: tls.cert, key: tls.key });
  }

  address(): AddressInfo {
    const address = this.server?.address();
    if (!address || typeof address === 'string') throw new Error('server is not listening');
    return address;
  }

  /** Stops the WebSocket endpoint, and the HTTP(S) server when this front created it. */
  async close(): Promise<void> {
    this.wss.close();
    const server = this.server;
    if (server && this.ownsServer) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = pathOf(req);
    const { metricsRegistry } = this.options;
    if (path === '/metrics' && metricsRegistry) {
      void answerScrape(metricsRegistry, req, res, this.options.server.apiKey);
      return;
    }
    if (isSocketPath(path)) {
      // A plain request on the WebSocket path: what gorilla answers for a failed upgrade.
      const status = req.method === 'GET' ? 400 : 405;
      const text = status === 400 ? 'Bad Request' : 'Method Not Allowed';
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Sec-Websocket-Version': '13' });
      res.end(`${text}\n`);
      return;
    }
    this.options.api(req, res);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const closing = this.options.isClosing();
    if (this.options.isDraining() && !closing) {
      socket.end(DRAINING_RESPONSE);
      return;
    }
    const path = pathOf(req);
    const cluster = this.options.onClusterUpgrade !== undefined && path === this.options.clusterPath;
    if (closing || !(isSocketPath(path) || cluster)) {
      socket.end(NOT_FOUND_RESPONSE);
      return;
    }
    const { authLimiter, logger } = this.options;
    const remote = req.socket.remoteAddress;
    if (authLimiter.isLimited(remote)) {
      // Cheaper than an upgrade, and a client retries it later instead of giving up as on an auth failure.
      logger.warn({ remote }, 'authentication rate limit reached, upgrade refused');
      socket.end(tooManyRequestsResponse(authLimiter.retryAfterSeconds(remote)));
      return;
    }
    if (cluster) {
      this.options.onClusterUpgrade!(req, socket as Socket, (onSocket) => this.wss.handleUpgrade(req, socket, head, onSocket));
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.options.onWebSocket(ws, req, socket as Socket));
  }
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

function isSocketPath(path: string): boolean {
  return path === '/socket' || path.startsWith('/socket/');
}

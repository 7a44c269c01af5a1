import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket, RawData } from 'ws';
import { createApiHandler } from '../api/app.js';
import { attachMetrics } from '../metrics/metrics.js';
import { answerScrape } from '../metrics/http.js';
import type { Registry } from 'prom-client';
import type { TokenAdmin } from '../api/types.js';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { decodeMessage, encodeMessage } from '../protocol/index.js';
import type { ConnectorMessage, Message } from '../protocol/index.js';
import { RelayCounters } from '../relay/counters.js';
import { createTcpDialer, parseUpstreamProxy, type UpstreamProxy } from '../relay/upstream.js';
import type { TcpDialer } from '../relay/dialing-side.js';
import { udpChannelOpener } from '../relay/udp-dialing-side.js';
import { openUdpSocksSide } from '../relay/udp-socks-side.js';
import { handleConnect } from '../relay/dialing-side.js';
import type { DialingSideOptions } from '../relay/dialing-side.js';
import { Link, rawDataToBuffer } from '../relay/link.js';
import { eventObserver } from '../relay/observer.js';
import type { ChannelObserver } from '../relay/observer.js';
import { routeConnect } from '../relay/route.js';
import { DEFAULT_SOCKS_CONNECT_TIMEOUT_MS } from '../relay/socks-side.js';
import { decideByAuthMessage, decideByQuery, AUTH_ERROR_MESSAGE } from './authenticate.js';
import type { AuthDecision, TokenRoles } from './authenticate.js';
import type { LinkSocksServerOptions, ReverseTokenOptions, ServerStatus } from './options.js';
import { ProviderPool } from './provider-pool.js';
import type { LinkSocksServerEvents } from './events.js';
import { AuthRateLimiter, tooManyRequestsResponse } from './auth-rate-limit.js';
import { admitChannel, DEFAULT_MAX_CHANNELS_PER_LINK } from '../relay/limits.js';
import { ReverseListener } from './reverse-listener.js';
import { TokenStore } from './token-store.js';
import type { TokenRecord } from './token-store.js';
import { VERSION } from '../version.js';

/** Go's reader limit; a bigger message closes the WebSocket with 1009 as Go does. */
const MAX_MESSAGE_SIZE = 32 * 1024 * 1024;
const AUTH_MESSAGE_TIMEOUT_MS = 30_000;
const PING_INTERVAL_MS = 30_000;
/** Go clients ping every 30 s; three missed pings mean the peer is gone. */
const DEAD_AFTER_MS = 90_000;
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const NIL_UUID = '00000000-0000-0000-0000-000000000000';
/** Upgrades allowed to sit waiting for their Auth message at once. */
const MAX_PENDING_AUTH = 1024;
const DEFAULT_SOCKS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** A live authenticated WebSocket and what it is to the server. */
interface Session {
  link: Link;
  token: string;
  role: 'forward' | 'reverse' | 'connector';
  /** Providers: the token whose pool they serve (the internal token in autonomy mode). */
  poolToken?: string;
}

/**
 * LinkSocks server: one HTTP port for the WebSocket endpoint (`/socket`, `/socket/…`) and the
 * token API; forward, reverse, agent (connector) and autonomy modes.
 *
 * Events: 'client-connected' / 'client-disconnected' ({ role, token, linkId }), 'auth-failed'
 * ({ reason, remoteAddress }), 'channel-open' / 'channel-close' / 'connect' (see relay/observer.ts),
 * 'listenerError' (token, Error) when a reverse token's SOCKS port cannot be bound.
 */
export class LinkSocksServer extends EventEmitter<LinkSocksServerEvents> {
  readonly options: LinkSocksServerOptions;
  readonly counters = new RelayCounters();
  readonly store: TokenStore;
  private readonly logger: Logger;
  private readonly wss: WebSocketServer;
  private httpServer: HttpServer | undefined;
  private ownsHttpServer = false;
  private readonly sessions = new Set<Session>();
  private readonly pools = new Map<string, ProviderPool>();
  private readonly socksListeners = new Map<string, ReverseListener>();
  /** Sockets of upgrades still authenticating, so close() can drop them. */
  private readonly pendingSockets = new Set<WebSocket>();
  private readonly apiHandler: (req: IncomingMessage, res: ServerResponse) => void;
  private closing = false;
  private draining = false;
  private readonly dialTcp: TcpDialer;
  private readonly upstream: UpstreamProxy | undefined;
  private readonly authLimiter: AuthRateLimiter;
  private readonly maxChannelsPerLink: number;
  private readonly observer: ChannelObserver;
  /** Set with the `metrics` option; also usable by embedding programs. */
  readonly metricsRegistry: Registry | undefined;
  private readonly reverseObserver: ChannelObserver;

  constructor(options: LinkSocksServerOptions = {}) {
    super();
    this.options = options;
    this.logger = options.logger ?? silentLogger();
    this.store = new TokenStore({ portRange: options.portPool, stateFile: options.stateFile });
    this.store.on('removed', (record: TokenRecord) => this.onTokenRemoved(record));
    this.authLimiter = new AuthRateLimiter(options.authRateLimit);
    this.maxChannelsPerLink = options.maxChannelsPerLink ?? DEFAULT_MAX_CHANNELS_PER_LINK;
    this.observer = eventObserver(this, this.logger, 'forward');
    this.reverseObserver = eventObserver(this, this.logger, 'reverse');
    // Parsed once so a bad URL fails at construction (UpstreamProxyError), not on the first dial.
    this.upstream = options.upstreamProxy ? parseUpstreamProxy(options.upstreamProxy) : undefined;
    this.dialTcp = createTcpDialer(this.upstream, options.connectTimeoutMs ?? 10_000);
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: MAX_MESSAGE_SIZE });
    this.metricsRegistry = options.metrics ? attachMetrics(this) : undefined;
    this.apiHandler = createApiHandler({ admin: this.admin(), apiKey: options.apiKey, logger: this.logger });
  }

  addForwardToken(token?: string): string {
    const added = this.store.addForward(token);
    this.logger.info('New forward proxy token added');
    return added.token;
  }

  addReverseToken(options: ReverseTokenOptions = {}): { token: string; port: number } {
    const added = this.store.addReverse(options);
    if (options.allowManageConnector) this.logger.info('New autonomy reverse token added');
    else this.logger.info({ port: added.port }, 'New reverse proxy token added');
    return { token: added.token, port: added.port ?? -1 };
  }

  addConnectorToken(token: string | undefined, reverseToken: string): string {
    const added = this.store.addConnector(token, reverseToken);
    this.logger.info('New connector token added');
    return added.token;
  }

  /** Removes any token, closing its connections and listener. Returns false for unknown tokens. */
  removeToken(token: string): boolean {
    return this.store.remove(token).length > 0;
  }

  /** Token list as `/api/status` shows it; idle forward tokens count 0 (API.md §5, unlike Go). */
  status(): ServerStatus {
    const tokens = this.store.statusEntries((token) => this.countSessions(token));
    return { version: `v${VERSION}`, tokens };
  }

  async start(): Promise<void> {
    const tls = this.options.tls;
    // Tight header deadlines: a client trickling its upgrade request must not hold a socket for long.
    const limits = { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1_000 };
    const server =
      this.options.httpServer ??
      (tls ? https.createServer({ ...limits, cert: tls.cert, key: tls.key }) : http.createServer(limits));
    this.ownsHttpServer = !this.options.httpServer;
    this.httpServer = server;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    if (this.ownsHttpServer) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.options.port ?? 8765, this.options.host ?? '0.0.0.0', () => {
          server.off('error', reject);
          resolve();
        });
      });
    }
  }

  /** Replaces the TLS certificate for new connections; open ones keep theirs (SIGHUP in the CLI). */
  reloadTls(tls: { cert: string | Buffer; key: string | Buffer }): void {
    const server = this.httpServer;
    if (!(server instanceof https.Server)) throw new Error('the server was not started with TLS');
    server.setSecureContext({ cert: tls.cert, key: tls.key });
    this.logger.info('TLS certificate reloaded');
  }

  address(): AddressInfo {
    const address = this.httpServer?.address();
    if (!address || typeof address === 'string') throw new Error('server is not listening');
    return address;
  }

  /** The bound address of a reverse token's SOCKS5 listener, once a provider has opened it. */
  socksAddress(token: string): AddressInfo | undefined {
    return this.socksListeners.get(token)?.address();
  }

  /**
   * Graceful shutdown: stop accepting SOCKS connections, WebSocket upgrades and new channels, let
   * open channels finish for up to `timeoutMs`, then close everything.
   */
  async drain(timeoutMs = 30_000): Promise<void> {
    if (this.closing) return;
    this.draining = true;
    this.logger.info({ timeoutMs }, 'Draining: waiting for open channels to finish');
    await Promise.all([...this.socksListeners.values()].map((listener) => listener.close()));
    const busy = [...this.sessions].map((s) => s.link).filter((link) => link.channels.size > 0 && !link.isClosed);
    const allIdle = Promise.all(
      busy.map(
        (link) =>
          new Promise<void>((resolve) => {
            const done = (): void => {
              link.off('idle', done);
              link.off('close', done);
              resolve();
            };
            link.on('idle', done);
            link.on('close', done);
          }),
      ),
    );
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([allIdle, expired]);
    clearTimeout(timer);
    await this.close();
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const ws of this.pendingSockets) ws.terminate();
    for (const session of [...this.sessions]) session.link.close(1001);
    await Promise.all([...this.socksListeners.values()].map((listener) => listener.close()));
    this.socksListeners.clear();
    for (const pool of this.pools.values()) pool.cancelWaiters();
    this.wss.close();
    const server = this.httpServer;
    if (server && this.ownsHttpServer) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  }

  // ---- HTTP -------------------------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = pathOf(req);
    if (path === '/metrics' && this.metricsRegistry) {
      void answerScrape(this.metricsRegistry, req, res, this.options.apiKey);
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
    this.apiHandler(req, res);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.draining && !this.closing) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    if (this.closing || !isSocketPath(pathOf(req))) {
      socket.end('HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\nConnection: close\r\n\r\n404 page not found\n');
      return;
    }
    const remote = req.socket.remoteAddress;
    if (this.authLimiter.isLimited(remote)) {
      // Cheaper than an upgrade, and a client retries it later instead of giving up as on an auth failure.
      this.logger.warn({ remote }, 'authentication rate limit reached, upgrade refused');
      socket.end(tooManyRequestsResponse(this.authLimiter.retryAfterSeconds(remote)));
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onWebSocket(ws, req, socket as Socket));
  }

  // ---- authentication ---------------------------------------------------------------------

  private onWebSocket(ws: WebSocket, req: IncomingMessage, socket: Socket): void {
    ws.binaryType = 'nodebuffer';
    ws.on('error', () => undefined);
    const query = new URL(req.url ?? '/', 'http://localhost').searchParams;
    const byQuery = decideByQuery(query, this.roles());
    if (byQuery) {
      this.onDecision(ws, socket, byQuery, 'query');
      return;
    }
    // No token parameter: the first message must be an Auth message. Go waits forever; we do not.
    if (this.pendingSockets.size >= MAX_PENDING_AUTH) {
      this.logger.warn('too many connections waiting for their Auth message, refused');
      ws.terminate();
      return;
    }
    this.pendingSockets.add(ws);
    const timer = setTimeout(() => fail(AUTH_ERROR_MESSAGE), AUTH_MESSAGE_TIMEOUT_MS);
    const cleanup = (): void => {
      clearTimeout(timer);
      this.pendingSockets.delete(ws);
      ws.off('message', onMessage);
      ws.off('close', cleanup);
    };
    const fail = (error: string): void => {
      cleanup();
      this.onDecision(ws, socket, { ok: false, error }, 'message');
    };
    const onMessage = (data: RawData): void => {
      let msg: Message;
      try {
        msg = decodeMessage(rawDataToBuffer(data));
      } catch {
        fail(AUTH_ERROR_MESSAGE);
        return;
      }
      if (msg.type !== 'auth') {
        fail(AUTH_ERROR_MESSAGE);
        return;
      }
      cleanup();
      this.onDecision(ws, socket, decideByAuthMessage(msg, this.roles()), 'message');
    };
    ws.on('message', onMessage);
    ws.on('close', cleanup);
  }

  private onDecision(ws: WebSocket, socket: Socket, decided: AuthDecision, method: 'query' | 'message'): void {
    let decision = decided;
    if (decision.ok && this.countSessions(decision.token) >= (this.options.maxConnectionsPerToken ?? 1024)) {
      this.logger.warn({ role: decision.role }, 'connection limit of a token reached, client refused');
      decision = { ok: false, error: 'too many connections for this token' };
    }
    if (!decision.ok) {
      this.authLimiter.recordFailure(socket.remoteAddress);
      this.logger.info({ reason: decision.error, remote: socket.remoteAddress }, 'Authentication failed');
      this.emit('auth-failed', { reason: decision.error, remoteAddress: socket.remoteAddress ?? '' });
      // Go writes the failure, then drops the TCP connection without a close frame.
      ws.send(encodeMessage({ type: 'authResponse', success: false, error: decision.error }), () => ws.terminate());
      return;
    }
    if (this.closing) {
      ws.terminate();
      return;
    }
    const link = new Link(ws, socket, {
      pingIntervalMs: PING_INTERVAL_MS,
      deadAfterMs: DEAD_AFTER_MS,
      directFraming: 'unmasked',
      channelIdleTimeoutMs: this.options.channelIdleTimeoutMs,
      logger: this.logger,
      counters: this.counters,
    });
    const session: Session = { link, token: decision.token, role: decision.role };
    this.sessions.add(session);
    this.emit('client-connected', { role: decision.role, token: decision.token, linkId: link.id });
    link.on('close', () => this.onSessionClosed(session));
    switch (decision.role) {
      case 'forward':
        this.startForward(session);
        break;
      case 'reverse':
        void this.startProvider(session, decision.instance, method);
        break;
      case 'connector':
        this.startConnector(session);
        break;
    }
  }

  private roles(): TokenRoles {
    const store = this.store;
    return {
      isForward: (t) => store.get(t)?.kind === 'forward',
      // Internal tokens are reverse tokens too, but only the server itself may use them.
      isReverse: (t) => {
        const record = store.get(t);
        return record?.kind === 'reverse' && record.internal !== true;
      },
      isLiveConnector: (t) => {
        const record = store.get(t);
        return record?.kind === 'connector' && store.get(record.reverseToken ?? '')?.kind === 'reverse';
      },
      tokenForHash: (hash) => store.getByHash(hash)?.token,
    };
  }

  // ---- roles --------------------------------------------------------------------------------

  private startForward(session: Session): void {
    const { link } = session;
    link.send({ type: 'authResponse', success: true, error: '' });
    this.logger.info({ link: link.id }, 'Forward client authenticated');
    const dialing = this.dialingOptions();
    link.on('message', (msg: Message) => {
      if (msg.type === 'connect') {
        if (this.draining) this.refuseConnect(link, msg.channelId);
        else if (admitChannel(link, msg, this.maxChannelsPerLink)) handleConnect(link, msg, dialing);
      }
      else if (msg.type === 'connector') this.refuseConnector(session, msg);
    });
  }

  private async startProvider(session: Session, instance: string, method: 'query' | 'message'): Promise<void> {
    const { link, token } = session;
    const record = this.store.get(token);
    let poolToken = token;
    if (record?.allowManageConnector) {
      poolToken = this.internalTokenFor(token, instance, method);
    }
    session.poolToken = poolToken;
    const pool = this.poolFor(poolToken);
    if (record?.port !== undefined && record.port > 0 && !record.allowManageConnector) {
      await this.openListener(record);
    }
    if (link.isClosed) return;
    pool.add(link);
    // Go tells every connector about the new provider before answering the provider itself.
    this.broadcastToConnectors();
    link.send({ type: 'authResponse', success: true, error: '' });
    this.logger.info({ link: link.id }, 'Reverse client authenticated');
    link.on('message', (msg: Message) => {
      if (msg.type === 'connect') {
        // Go dials for providers too (a quirk); a provider has no business asking the server to dial.
        link.send({ type: 'connectResponse', success: false, channelId: msg.channelId, error: 'connect is not allowed for providers' });
      } else if (msg.type === 'connector') {
        this.onConnectorManagement(session, msg);
      }
    });
  }

  private startConnector(session: Session): void {
    const { link, token } = session;
    const reverseToken = this.store.get(token)?.reverseToken ?? '';
    const pool = this.poolFor(reverseToken);
    for (const provider of pool.list()) {
      provider.send({ type: 'partners', count: this.connectorCount(reverseToken) });
    }
    link.send({ type: 'authResponse', success: true, error: '' });
    link.send({ type: 'partners', count: this.providerCount() });
    this.logger.info({ link: link.id }, 'Connector client authenticated');
    const waitMs = this.options.connectorWaitProviderMs ?? 5000;
    link.on('message', (msg: Message, raw: Buffer) => {
      if (msg.type !== 'connect') return; // Go ignores everything else from connectors, Connector included
      if (this.draining) {
        this.refuseConnect(link, msg.channelId);
        return;
      }
      if (!admitChannel(link, msg, this.maxChannelsPerLink)) return;
      routeConnect(link, msg, raw, {
        pickProvider: () => this.poolFor(this.store.get(token)?.reverseToken ?? '').waitForProvider(waitMs),
      });
    });
  }

  private onSessionClosed(session: Session): void {
    this.sessions.delete(session);
    this.emit('client-disconnected', { role: session.role, token: session.token, linkId: session.link.id });
    if (session.role === 'reverse' && session.poolToken !== undefined) {
      const pool = this.pools.get(session.poolToken);
      pool?.remove(session.link);
      if (pool && pool.size === 0) this.broadcastToConnectors();
    }
    this.logger.debug({ link: session.link.id, role: session.role }, 'Client disconnected');
  }

  // ---- autonomy -------------------------------------------------------------------------------

  /**
   * The private pool of an autonomy provider. Keyed on the client's instance id (what Go meant to
   * do, MODES.md §5.4), so a reconnecting provider and all its threads land on the same one.
   */
  private internalTokenFor(token: string, instance: string, method: 'query' | 'message'): string {
    void method;
    const id = instance && instance !== NIL_UUID ? instance : randomUUID();
    const internal = `${token}/${id}`;
    if (!this.store.get(internal)) this.store.addInternal(token, internal);
    return internal;
  }

  private onConnectorManagement(session: Session, msg: ConnectorMessage): void {
    const { link } = session;
    const poolToken = session.poolToken ?? '';
    const reply = (success: boolean, error: string, connectorToken = ''): void => {
      link.send({ type: 'connectorResponse', success, channelId: msg.channelId, error, connectorToken });
    };
    const internal = this.store.get(poolToken);
    if (!internal?.internal) {
      reply(false, 'Unauthorized connector management attempt');
      return;
    }
    try {
      if (msg.operation === 'add') {
        const existing = msg.connectorToken ? this.store.get(msg.connectorToken) : undefined;
        if (existing?.kind === 'connector' && existing.reverseToken === poolToken) {
          reply(true, '', existing.token); // idempotent re-add (HEAD's replay after a reconnect)
          return;
        }
        const added = this.store.addConnector(msg.connectorToken || undefined, poolToken);
        this.logger.info('New connector token added');
        reply(true, '', added.token);
      } else {
        const existing = this.store.get(msg.connectorToken);
        if (existing?.kind !== 'connector' || existing.reverseToken !== poolToken) {
          reply(false, 'Unauthorized connector management attempt');
          return;
        }
        this.store.remove(msg.connectorToken);
        reply(true, '');
      }
    } catch (err) {
      reply(false, err instanceof Error ? err.message : String(err));
    }
  }

  private refuseConnect(link: Link, channelId: string): void {
    link.send({ type: 'connectResponse', success: false, channelId, error: 'server is shutting down' });
  }

  private refuseConnector(session: Session, msg: ConnectorMessage): void {
    session.link.send({
      type: 'connectorResponse',
      success: false,
      channelId: msg.channelId,
      error: 'Unauthorized connector management attempt',
      connectorToken: '',
    });
  }

  // ---- tokens -------------------------------------------------------------------------------------

  private poolFor(token: string): ProviderPool {
    let pool = this.pools.get(token);
    if (!pool) {
      pool = new ProviderPool();
      this.pools.set(token, pool);
    }
    return pool;
  }

  private async openListener(record: TokenRecord): Promise<void> {
    let listener = this.socksListeners.get(record.token);
    if (!listener) {
      const credentials =
        record.username && record.password ? { username: record.username, password: record.password } : undefined;
      listener = new ReverseListener(this.poolFor(record.token), {
        host: this.options.socksHost ?? '127.0.0.1',
        port: record.port ?? 0,
        credentials,
        httpConnect: this.options.httpConnect ?? true,
        handshakeTimeoutMs: this.options.socksHandshakeTimeoutMs ?? DEFAULT_SOCKS_HANDSHAKE_TIMEOUT_MS,
        providerWaitMs: this.options.providerWaitMs ?? 10_000,
        channel: this.socksSideOptions(),
        udp: (link, req) => openUdpSocksSide(link, req, { fastOpen: this.options.fastOpen ?? false, connectTimeoutMs: DEFAULT_SOCKS_CONNECT_TIMEOUT_MS }),
        logger: this.logger,
      });
      this.socksListeners.set(record.token, listener);
    }
    try {
      const address = await listener.listen();
      this.logger.debug({ port: address.port }, 'SOCKS5 listener started');
    } catch (err) {
      // Go only logs this at debug level; an unusable port must not go unnoticed.
      const error = err instanceof Error ? err : new Error(String(err));
      this.logger.error({ port: record.port, err: error.message }, 'cannot open SOCKS5 listener');
      this.socksListeners.delete(record.token);
      if (this.listenerCount('listenerError') > 0) this.emit('listenerError', record.token, error);
    }
  }

  private onTokenRemoved(record: TokenRecord): void {
    this.logger.info({ type: record.kind }, 'Token removed');
    for (const session of [...this.sessions]) {
      if (session.token === record.token || session.poolToken === record.token) session.link.close(1001);
    }
    const listener = this.socksListeners.get(record.token);
    if (listener) {
      this.socksListeners.delete(record.token);
      void listener.close();
    }
    const pool = this.pools.get(record.token);
    if (pool) {
      pool.cancelWaiters();
      this.pools.delete(record.token);
    }
  }

  // ---- helpers ----------------------------------------------------------------------------------

  private dialingOptions(): DialingSideOptions {
    return {
      dialTcp: this.dialTcp,
      openUdp: udpChannelOpener({ upstream: this.upstream }),
      maxPayload: this.options.bufferSize ?? DEFAULT_MAX_PAYLOAD,
      observer: this.observer,
    };
  }

  private socksSideOptions(): import('../relay/socks-side.js').SocksSideOptions {
    return {
      fastOpen: this.options.fastOpen ?? false,
      connectTimeoutMs: DEFAULT_SOCKS_CONNECT_TIMEOUT_MS,
      maxPayload: this.options.bufferSize ?? DEFAULT_MAX_PAYLOAD,
      observer: this.reverseObserver,
    };
  }

  private countSessions(token: string): number {
    let n = 0;
    for (const s of this.sessions) if (s.token === token && !s.link.isClosed) n += 1;
    return n;
  }

  private providerCount(): number {
    let n = 0;
    for (const pool of this.pools.values()) n += pool.size;
    return n;
  }

  private connectorCount(reverseToken: string): number {
    let n = 0;
    for (const s of this.sessions) {
      if (s.role === 'connector' && this.store.get(s.token)?.reverseToken === reverseToken) n += 1;
    }
    return n;
  }

  private broadcastToConnectors(): void {
    const count = this.providerCount();
    for (const s of this.sessions) {
      if (s.role === 'connector' && !s.link.isClosed) s.link.send({ type: 'partners', count });
    }
  }

  private admin(): TokenAdmin {
    return {
      addForwardToken: (token) => this.addForwardToken(token),
      addReverseToken: (opts) => this.addReverseToken(opts),
      addConnectorToken: (token, reverseToken) => this.addConnectorToken(token, reverseToken),
      removeToken: (token) => this.removeToken(token),
      status: () => this.status(),
    };
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

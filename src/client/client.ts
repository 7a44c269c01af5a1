import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { ClientOptions } from 'ws';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { ConnectorResponseMessage, Message } from '../protocol/index.js';
import { RelayCounters } from '../relay/counters.js';
import { createTcpDialer, parseUpstreamProxy, type UpstreamProxy } from '../relay/upstream.js';
import { udpChannelOpener } from '../relay/udp-dialing-side.js';
import { openUdpSocksSide } from '../relay/udp-socks-side.js';
import { handleConnect } from '../relay/dialing-side.js';
import type { DialingSideOptions } from '../relay/dialing-side.js';
import type { Link, LinkOptions } from '../relay/link.js';
import { eventObserver } from '../relay/observer.js';
import { admitChannel } from '../relay/limits.js';
import { LinkWaiters } from '../relay/link-waiters.js';
import type { ChannelObserver } from '../relay/observer.js';
import { DEFAULT_SOCKS_CONNECT_TIMEOUT_MS, openSocksChannel } from '../relay/socks-side.js';
import { Socks5Server } from '../socks5/server.js';
import { Reply } from '../socks5/types.js';
import type { SocksRequest } from '../socks5/types.js';
import { VERSION } from '../version.js';
import { ClientConnection } from './connection.js';
import { isLivenessProbe, livenessPong } from './liveness.js';
import type { LinkSocksClientEvents } from './events.js';
import { ConnectorError, LinkSocksClientError } from './errors.js';
import type { LinkSocksClientOptions } from './options.js';
import { normaliseServerUrl } from './url.js';

const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
/** How long a SOCKS request waits for an authenticated WebSocket (Go: 10 s of polling). */
const WAIT_FOR_LINK_MS = 10_000;
const CONNECTOR_RESPONSE_TIMEOUT_MS = 10_000;

/**
 * LinkSocks client in the forward, connector or provider role.
 *
 * Events: 'ready' (first authentication), 'connected' (Link), 'disconnected' (Link), 'partners'
 * (count), 'error' (fatal: auth failure without retry, connection lost without reconnect; the
 * client has stopped).
 */
export class LinkSocksClient extends EventEmitter<LinkSocksClientEvents> {
  readonly options: LinkSocksClientOptions;
  readonly counters = new RelayCounters();
  /** Sent on every connection; a server keys autonomy providers on it (MODES.md §5.4). */
  readonly instance = randomUUID();
  private readonly logger: Logger;
  private readonly connections: ClientConnection[] = [];
  private socksServer: Socks5Server | undefined;
  private socksBound: AddressInfo | undefined;
  private nextIndex = 1;
  private readonly linkWaiters = new LinkWaiters();
  private readonly connectorRequests = new Map<string, (msg: ConnectorResponseMessage) => void>();
  private partners = 0;
  /** Connector tokens this provider added, re-added after a reconnect (a restarted server forgot them). */
  private readonly addedConnectors = new Set<string>();
  private readonly observer: ChannelObserver;
  private readonly upstream: UpstreamProxy | undefined;
  private dialing: DialingSideOptions | undefined;
  private readyOnce = false;
  private stopped = false;
  private fatal: LinkSocksClientError | undefined;
  private startWaiter: { resolve: () => void; reject: (err: Error) => void } | undefined;

  constructor(options: LinkSocksClientOptions = {}) {
    super();
    this.options = options;
    this.logger = options.logger ?? silentLogger();
    this.observer = eventObserver(this, this.logger, options.reverse ? 'reverse' : 'forward');
    // Parsed here, as the server does, so a bad URL throws UpstreamProxyError from the constructor
    // rather than from a connection handler later.
    this.upstream = options.upstreamProxy ? parseUpstreamProxy(options.upstreamProxy) : undefined;
  }

  /** Number of partners the server last announced (providers for connectors, and the reverse). */
  get partnersCount(): number {
    return this.partners;
  }

  get isReverse(): boolean {
    return this.options.reverse ?? false;
  }

  /**
   * Connects (and for forward/connector opens the SOCKS5 listener). Resolves once the first
   * WebSocket has authenticated (or at once with `socksNoWait`); rejects with the fatal error.
   */
  async start(): Promise<void> {
    const url = normaliseServerUrl(this.options.url ?? 'ws://localhost:8765');
    const threads = clampThreads(this.options.threads ?? 1);
    const token = this.options.token || 'anonymous';
    this.logger.info({ url: url.href }, 'LinkSocks Client is connecting to');
    const ready = new Promise<void>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
    });
    if (!this.isReverse && this.options.socksNoWait) await this.openSocks();
    for (let i = 0; i < threads; i += 1) {
      const connection = new ClientConnection({
        url,
        token,
        reverse: this.isReverse,
        instance: this.instance,
        wsOptions: this.wsOptions(),
        reconnect: this.options.reconnect ?? false,
        retryAuth: this.options.retryAuth ?? false,
        initialDelayMs: this.options.reconnectDelayMs ?? 1000,
        maxDelayMs: this.options.maxReconnectDelayMs ?? 10 * 60 * 1000,
        authTimeoutMs: 30_000,
        linkOptions: this.linkOptions(),
        logger: this.logger,
        index: i,
        total: threads,
      });
      connection.on('up', (link: Link) => void this.onUp(i, link));
      connection.on('down', (link: Link) => this.emit('disconnected', link));
      connection.on('fatal', (err: LinkSocksClientError) => this.onFatal(err));
      this.connections.push(connection);
      connection.start();
    }
    if (!this.isReverse && this.options.socksNoWait) this.startWaiter?.resolve();
    return ready;
  }

  /** The bound SOCKS5 address (forward and connector roles) once it is open. */
  socksAddress(): AddressInfo | undefined {
    return this.socksBound;
  }

  /** Provider in autonomy mode: asks the server to map a connector token to this provider. */
  async addConnector(token = ''): Promise<string> {
    const response = await this.connectorRequest('add', token);
    if (!response.success) throw new ConnectorError(response.error || 'failed to add connector token');
    this.addedConnectors.add(response.connectorToken);
    this.logger.info({ connector_token: response.connectorToken }, 'Connector token added successfully');
    return response.connectorToken;
  }

  async removeConnector(token: string): Promise<void> {
    const response = await this.connectorRequest('remove', token);
    if (!response.success) throw new ConnectorError(response.error || 'failed to remove connector token');
    this.addedConnectors.delete(token);
  }

  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const connection of this.connections) connection.close();
    this.linkWaiters.cancelAll();
    if (this.socksServer) await this.socksServer.close();
    this.startWaiter?.reject(new LinkSocksClientError('ERR_LINKSOCKS_CLOSED', 'client closed', false));
    this.startWaiter = undefined;
  }

  // ---- connections -----------------------------------------------------------------------

  private async onUp(index: number, link: Link): Promise<void> {
    link.on('message', (msg: Message) => this.onMessage(link, msg));
    if (this.isReverse) {
      const dialing = this.dialingOptions();
      link.on('message', (msg: Message) => {
        if (msg.type === 'connect' && admitChannel(link, msg, this.options.maxChannelsPerLink)) handleConnect(link, msg, dialing);
      });
    }
    this.emit('connected', link);
    // Every waiting SOCKS request may use the new link (as Go's polling would find it).
    this.linkWaiters.release(() => link);
    if (index === 0 && this.readyOnce && this.addedConnectors.size > 0) this.replayConnectors(link);
    if (index === 0 && !this.readyOnce) {
      this.readyOnce = true;
      try {
        if (!this.isReverse) await this.openSocks();
      } catch (err) {
        this.onFatal(new LinkSocksClientError('ERR_LINKSOCKS_CONNECTION', `socks server error: failed to start SOCKS server: ${(err as Error).message}`, false));
        return;
      }
      this.emit('ready');
      this.startWaiter?.resolve();
      this.startWaiter = undefined;
    }
  }

  private onMessage(link: Link, msg: Message): void {
    switch (msg.type) {
      case 'partners':
        this.partners = msg.count;
        this.logger.debug({ count: msg.count }, 'Partners updated');
        this.emit('partners', msg.count);
        return;
      case 'connectorResponse':
        this.connectorRequests.get(msg.channelId)?.(msg);
        return;
      case 'log':
        if (isLivenessProbe(msg)) {
          link.send(livenessPong(`v${VERSION}`));
          return;
        }
        this.logger.debug({ level: msg.level }, `server: ${msg.msg}`);
        return;
      case 'connect':
        return; // only providers dial; a forward client ignores it as Go does
      default:
        this.logger.debug({ link: link.id, type: msg.type }, 'Received unknown message type, dropping message');
    }
  }

  private onFatal(err: LinkSocksClientError): void {
    if (this.fatal || this.stopped) return;
    this.fatal = err;
    this.logger.fatal(`Exit due to error: ${err.message}`);
    const waiter = this.startWaiter;
    this.startWaiter = undefined;
    void this.close().then(() => {
      if (waiter) waiter.reject(err);
      else if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  /** Next authenticated link, round robin (Go starts at index 1 mod N). */
  private pickLink(): Link | undefined {
    const n = this.connections.length;
    for (let tries = 0; tries < n; tries += 1) {
      const connection = this.connections[this.nextIndex % n]!;
      this.nextIndex = (this.nextIndex + 1) % n;
      const link = connection.link;
      if (link) return link;
    }
    return undefined;
  }

  private waitForLink(timeoutMs: number): Promise<Link | undefined> {
    const now = this.pickLink();
    if (now || this.stopped) return Promise.resolve(now);
    return this.linkWaiters.wait(timeoutMs);
  }

  // ---- SOCKS side (forward client, connector) -----------------------------------------------

  private async openSocks(): Promise<void> {
    if (this.socksServer) return;
    const { socksUsername, socksPassword } = this.options;
    const credentials = socksUsername && socksPassword ? { username: socksUsername, password: socksPassword } : undefined;
    const server = new Socks5Server(
      {
        host: this.options.socksHost ?? '127.0.0.1',
        port: this.options.socksPort ?? 9870,
        credentials,
        httpConnect: this.options.httpConnect ?? true,
        handshakeTimeoutMs: this.options.socksHandshakeTimeoutMs ?? 10_000,
      },
      (req) => this.onSocksRequest(req),
    );
    server.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'SOCKS5 server error'));
    this.socksServer = server;
    this.socksBound = await server.listen();
    this.logger.info({ addr: `${this.socksBound.address}:${this.socksBound.port}` }, 'SOCKS5 server started');
  }

  private onSocksRequest(req: SocksRequest): void {
    this.waitForLink(this.options.linkWaitMs ?? WAIT_FOR_LINK_MS).then((link) => {
      if (!link) {
        req.reject(Reply.NetworkUnreachable);
        return;
      }
      if (req.command === 'connect') {
        openSocksChannel(link, req, {
          fastOpen: this.options.fastOpen ?? false,
          connectTimeoutMs: DEFAULT_SOCKS_CONNECT_TIMEOUT_MS,
          maxPayload: this.options.bufferSize ?? DEFAULT_MAX_PAYLOAD,
          observer: this.observer,
        });
      } else {
        openUdpSocksSide(link, req, {
          fastOpen: this.options.fastOpen ?? false,
          connectTimeoutMs: DEFAULT_SOCKS_CONNECT_TIMEOUT_MS,
        });
      }
    }, () => req.reject(Reply.GeneralFailure));
  }

  // ---- provider --------------------------------------------------------------------------------

  private replayConnectors(link: Link): void {
    for (const token of this.addedConnectors) {
      this.connectorRequest('add', token, link).then(
        (response) => {
          if (!response.success) this.logger.warn({ err: response.error }, 'Failed to replay connector token');
        },
        (err: Error) => this.logger.warn({ err: err.message }, 'Failed to replay connector token'),
      );
    }
  }

  private connectorRequest(
    operation: 'add' | 'remove',
    connectorToken: string,
    via?: Link,
  ): Promise<ConnectorResponseMessage> {
    const link = via ?? this.pickLink();
    if (!link) return Promise.reject(new ConnectorError('not connected to the server'));
    const channelId = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.connectorRequests.delete(channelId);
        reject(new ConnectorError('timeout waiting for connector response'));
      }, CONNECTOR_RESPONSE_TIMEOUT_MS);
      this.connectorRequests.set(channelId, (msg) => {
        clearTimeout(timer);
        this.connectorRequests.delete(channelId);
        resolve(msg);
      });
      link.send({ type: 'connector', channelId, connectorToken, operation });
    });
  }

  /** Provider side: how Connects from the server are dialed; built once, shared by every link. */
  private dialingOptions(): DialingSideOptions {
    this.dialing ??= {
      dialTcp: createTcpDialer(this.upstream, this.options.connectTimeoutMs ?? 10_000),
      openUdp: udpChannelOpener({ upstream: this.upstream }),
      maxPayload: this.options.bufferSize ?? DEFAULT_MAX_PAYLOAD,
      observer: this.observer,
    };
    return this.dialing;
  }

  private linkOptions(): LinkOptions {
    return {
      pingIntervalMs: 30_000,
      // A Go server answers pings; 75 s without any frame means the path is dead.
      deadAfterMs: 75_000,
      // Each unsolicited pong extends a Go server's read deadline for this provider (SESSION.md §6).
      unsolicitedPongMs: this.isReverse ? 25_000 : 0,
      // A client masks every frame with a fresh random key (RFC 6455 §5.3), as `ws` does for the rest.
      directFraming: 'masked',
      // A provider receives Connects: Data that overtakes its Connect is held.
      ...(this.isReverse ? { earlyData: {} } : {}),
      logger: this.logger,
      counters: this.counters,
    };
  }

  private wsOptions(): ClientOptions {
    const options: ClientOptions = { headers: { 'User-Agent': `linksocks-ts/${VERSION}` } };
    if (this.options.ca) options.ca = this.options.ca;
    if (this.options.insecure) options.rejectUnauthorized = false;
    return options;
  }
}

function clampThreads(n: number): number {
  const cpus = os.availableParallelism();
  if (n < 0) return cpus;
  if (n === 0) return 1;
  return Math.min(n, 100 * cpus);
}

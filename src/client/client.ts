import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { ClientOptions } from 'ws';
import type { Logger } from '../log.js';
import type { ConnectorResponseMessage } from '../protocol/index.js';
import { RelayCounters } from '../relay/counters.js';
import { createTcpDialer, parseUpstreamProxy, type UpstreamProxy } from '../relay/upstream.js';
import { udpChannelOpener } from '../relay/udp-dialing-side.js';
import { openUdpSocksSide } from '../relay/udp-socks-side.js';
import { handleConnect } from '../relay/dialing-side.js';
import type { DialingSideOptions } from '../relay/dialing-side.js';
import type { Link, LinkMessage, LinkOptions } from '../relay/link.js';
import { eventObserver } from '../relay/observer.js';
import { admitChannel } from '../relay/limits.js';
import { LinkWaiters } from '../relay/link-waiters.js';
import type { ChannelObserver } from '../relay/observer.js';
import { DEFAULT_SOCKS_CONNECT_TIMEOUT_MS, openSocksChannel, type SocksSideOptions } from '../relay/socks-side.js';
import { ResumableChannels, SuspendedOwners } from '../relay/grace.js';
import { Socks5Server } from '../socks5/server.js';
import { Reply } from '../socks5/types.js';
import type { SocksRequest } from '../socks5/types.js';
import { VERSION } from '../version.js';
import { ClientConnection } from './connection.js';
import { isLivenessProbe, livenessPong } from './liveness.js';
import type { ClientCloseEvent, LinkSocksClientEvents } from './events.js';
import { ConnectorError, LinkSocksClientError } from './errors.js';
import { resolveClientOptions, type LinkSocksClientOptions, type ResolvedClientOptions } from './options.js';
import { displayUrl, normaliseServerUrl } from './url.js';
import { checkDestinationWithin, dialCheck, entryCheck, type DestinationCheck } from '../access/guard.js';
import { AccessRules, DenyList, DestinationPolicy } from '../access/index.js';

const CONNECTOR_RESPONSE_TIMEOUT_MS = 10_000;

/**
 * LinkSocks client in the forward, connector or provider role.
 *
 * Events: 'ready' (first authentication), 'connected' (Link), 'disconnected' (Link), 'partners'
 * (count), 'error' (fatal: auth failure without retry, connection lost without reconnect; the
 * client has stopped), 'close' ({ error }) once the client has stopped for any reason, also
 * available as the `closed` promise, so a program without an 'error' listener still learns it.
 */
export class LinkSocksClient extends EventEmitter<LinkSocksClientEvents> {
  /** The options with every default filled in (frozen). */
  readonly options: ResolvedClientOptions;
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
  /** How SOCKS requests are carried over a link (forward client, connector); built once. */
  private readonly socksSide: SocksSideOptions;
  /** `accessRules` + `denyTargets`: dial rules for a provider, entry rules otherwise. */
  private readonly accessPolicy: DestinationPolicy;
  private dialing: DialingSideOptions | undefined;
  private readyOnce = false;
  /** Transport grace (ms, 0 = off): SOCKS channels wait here for a new link after losing theirs. */
  private readonly graceMs: number;
  private readonly owners = new SuspendedOwners(() => this.resumableLink());
  /** Provider: channels it dials, found again by a server's Resume after a reconnect. */
  private readonly resumable = new ResumableChannels();
  private stopped = false;
  private stopping: Promise<void> | undefined;
  private fatal: LinkSocksClientError | undefined;
  private readonly resolveClosed: (event: ClientCloseEvent) => void;
  /**
   * Settles once the client has stopped for good (the same moment as the 'close' event), with the
   * fatal error or `error: undefined` after close(). Never rejects.
   */
  readonly closed: Promise<ClientCloseEvent>;
  private startWaiter: { resolve: () => void; reject: (err: Error) => void } | undefined;

  /** Throws InvalidArgumentError (naming the option) for an option of the wrong type or range. */
  constructor(userOptions: LinkSocksClientOptions = {}) {
    super();
    const options = (this.options = resolveClientOptions(userOptions));
    let resolveClosed: (event: ClientCloseEvent) => void = () => undefined;
    this.closed = new Promise((resolve) => {
      resolveClosed = resolve;
    });
    this.resolveClosed = resolveClosed;
    this.logger = options.logger;
    this.observer = eventObserver(this, this.logger, options.reverse ? 'reverse' : 'forward');
    // Parsed here, as the server does, so a bad URL throws UpstreamProxyError from the constructor
    // rather than from a connection handler later.
    this.upstream = options.upstreamProxy ? parseUpstreamProxy(options.upstreamProxy) : undefined;
    this.graceMs = options.transportGraceMs;
    this.socksSide = {
      fastOpen: options.fastOpen,
      connectTimeoutMs: DEFAULT_SOCKS_CONNECT_TIMEOUT_MS,
      maxPayload: options.bufferSize,
      observer: this.observer,
      grace: this.graceMs > 0 ? { ms: this.graceMs, registry: this.owners } : undefined,
    };
    this.accessPolicy = new DestinationPolicy(AccessRules.parse(options.accessRules, 'accessRules'), DenyList.fromPresets(options.denyTargets));
  }

  /** Number of partners the server last announced (providers for connectors, and the reverse). */
  get partnersCount(): number {
    return this.partners;
  }

  get isReverse(): boolean {
    return this.options.reverse;
  }

  /**
   * Connects (and for forward/connector opens the SOCKS5 listener). Resolves once the first
   * WebSocket has authenticated (or at once with `socksNoWait`); rejects with the fatal error.
   */
  async start(): Promise<void> {
    // Every thread starts at the first URL (the list is an order of preference) and moves on by
    // itself when its attempt fails or its link is lost.
    const urls = this.options.urls.map(normaliseServerUrl);
    const threads = clampThreads(this.options.threads);
    const token = this.options.token;
    this.logger.info(urls.length > 1 ? { url: displayUrl(urls[0]!), failover: urls.slice(1).map(displayUrl) } : { url: displayUrl(urls[0]!) }, 'LinkSocks Client is connecting to');
    const ready = new Promise<void>((resolve, reject) => {
      this.startWaiter = { resolve, reject };
    });
    if (!this.isReverse && this.options.socksNoWait) await this.openSocks();
    for (let i = 0; i < threads; i += 1) {
      const connection = new ClientConnection({
        urls,
        token,
        reverse: this.isReverse,
        instance: this.instance,
        wsOptions: this.wsOptions(),
        reconnect: this.options.reconnect,
        retryAuth: this.options.retryAuth,
        initialDelayMs: this.options.reconnectDelayMs,
        maxDelayMs: this.options.maxReconnectDelayMs,
        authTimeoutMs: 30_000,
        linkOptions: this.linkOptions(),
        announceGrace: this.graceMs > 0,
        logger: this.logger,
        index: i,
        total: threads,
      });
      connection.on('up', (link) => void this.onUp(i, link));
      connection.on('down', (link) => this.emit('disconnected', link));
      connection.on('fatal', (err) => this.onFatal(err));
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

  /** Stops the client; resolves once its sockets are closed (every call waits for the same stop). */
  close(): Promise<void> {
    return this.stop(undefined);
  }

  // ---- connections -----------------------------------------------------------------------

  private async onUp(index: number, link: Link): Promise<void> {
    link.on('message', (msg) => this.onMessage(link, msg));
    if (this.isReverse) {
      const dialing = this.dialingOptions();
      link.on('message', (msg) => {
        if (msg.type === 'connect' && admitChannel(link, msg, this.options.maxChannelsPerLink)) handleConnect(link, msg, dialing);
      });
    }
    // Channels waiting out a lost link re-open here once the server has said it can resume them.
    const resumeHere = (): void => {
      if (!link.isClosed) this.owners.linkReady(link);
    };
    if (link.peerResumes) resumeHere();
    else link.once('peer-resumes', resumeHere);
    this.emit('connected', link);
    // Every waiting SOCKS request may use the new link (as Go's polling would find it).
    this.linkWaiters.release(() => link);
    if (index === 0 && this.readyOnce && this.addedConnectors.size > 0) this.replayConnectors(link);
    if (index === 0 && !this.readyOnce) {
      this.readyOnce = true;
      try {
        if (!this.isReverse) await this.openSocks();
      } catch (err) {
        this.onFatal(new LinkSocksClientError('ERR_LINKSOCKS_CONNECTION', `socks server error: failed to start SOCKS server: ${(err as Error).message}`, false, { cause: err }));
        return;
      }
      this.emit('ready');
      this.startWaiter?.resolve();
      this.startWaiter = undefined;
    }
  }

  private onMessage(link: Link, msg: LinkMessage): void {
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
    void this.stop(err);
  }

  /** The one way the client stops: close() (error undefined) or a fatal error. */
  private stop(error: LinkSocksClientError | undefined): Promise<void> {
    this.stopping ??= this.release(error);
    return this.stopping;
  }

  private async release(error: LinkSocksClientError | undefined): Promise<void> {
    this.stopped = true;
    const waiter = this.startWaiter;
    this.startWaiter = undefined;
    for (const connection of this.connections) connection.close();
    this.owners.dropAll();
    this.resumable.dropSuspended();
    this.linkWaiters.cancelAll();
    if (this.socksServer) await this.socksServer.close();
    if (waiter) waiter.reject(error ?? new LinkSocksClientError('ERR_LINKSOCKS_CLOSED', 'client closed', false));
    else if (error && this.listenerCount('error') > 0) this.emit('error', error);
    const event: ClientCloseEvent = { error };
    this.resolveClosed(event);
    this.emit('close', event);
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

  /** A live link whose server announced transport grace. */
  private resumableLink(): Link | undefined {
    for (const connection of this.connections) {
      const link = connection.link;
      if (link?.peerResumes) return link;
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
        host: this.options.socksHost,
        port: this.options.socksPort,
        credentials,
        httpConnect: this.options.httpConnect,
        handshakeTimeoutMs: this.options.socksHandshakeTimeoutMs,
      },
      (req) => this.onSocksRequest(req),
    );
    server.on('error', (err: Error) => this.logger.warn({ err: err.message }, 'SOCKS5 server error'));
    this.socksServer = server;
    this.socksBound = await server.listen();
    this.logger.info({ addr: `${this.socksBound.address}:${this.socksBound.port}` }, 'SOCKS5 server started');
  }

  private onSocksRequest(req: SocksRequest): void {
    if (this.accessPolicy.isOpen) {
      this.toLink(req);
    } else if (req.command === 'connect') {
      void this.admit(req, entryCheck(this.accessPolicy));
    } else {
      // Datagrams are not checked one by one: with entry rules, UDP ASSOCIATE is refused.
      req.reject(Reply.NotAllowed);
    }
  }

  /** Entry rules: a refused request gets 0x02 / 403; an allowed one goes out with the checked address. */
  private async admit(req: SocksRequest & { command: 'connect' }, check: DestinationCheck): Promise<void> {
    const result = await checkDestinationWithin(req.host, req.port, [check], this.options.connectTimeoutMs);
    if (req.socket.destroyed) return;
    if (!result.allowed) {
      this.logger.debug({ port: req.port }, 'Request blocked by access control');
      req.reject(Reply.NotAllowed);
      return;
    }
    req.host = result.host;
    this.toLink(req);
  }

  private toLink(req: SocksRequest): void {
    this.waitForLink(this.options.linkWaitMs).then((link) => {
      if (!link) {
        req.reject(Reply.NetworkUnreachable);
        return;
      }
      if (req.command === 'connect') {
        openSocksChannel(link, req, this.socksSide);
      } else {
        openUdpSocksSide(link, req, this.socksSide);
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
      dialTcp: createTcpDialer(this.upstream, this.options.connectTimeoutMs),
      openUdp: udpChannelOpener({ upstream: this.upstream }),
      maxPayload: this.options.bufferSize,
      observer: this.observer,
      ...(!this.accessPolicy.isOpen && { access: () => [dialCheck(this.accessPolicy)] }),
      checkTimeoutMs: this.options.connectTimeoutMs,
      grace: this.graceMs > 0 ? { ms: this.graceMs, registry: this.resumable } : undefined,
      resumeChannel: this.graceMs > 0 ? (link, msg) => this.resumable.resume(link, msg.channelId) : undefined,
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

import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { Registry } from 'prom-client';
import { createApiHandler } from '../api/app.js';
import type { TokenAdmin } from '../api/types.js';
import { AdminFeed } from './admin-feed.js';
import { clientEntry, remoteAddressOf, tokenClientEntry, tokenDetailEntries, type ClientEntry, type TokenClientEntry } from './admin-views.js';
import type { Logger } from '../log.js';
import { attachMetrics } from '../metrics/metrics.js';
import { RelayCounters } from '../relay/counters.js';
import type { DialingSideOptions, TcpDialer } from '../relay/dialing-side.js';
import { Link } from '../relay/link.js';
import { eventObserver } from '../relay/observer.js';
import type { ChannelObserver } from '../relay/observer.js';
import type { ResumeChannel } from '../relay/resume.js';
import { DEFAULT_SOCKS_CONNECT_TIMEOUT_MS } from '../relay/socks-side.js';
import { ResumableChannels, SuspendedOwners } from '../relay/grace.js';
import { GraceRoutes } from '../relay/route.js';
import { udpChannelOpener } from '../relay/udp-dialing-side.js';
import { createTcpDialer, parseUpstreamProxy, type UpstreamProxy } from '../relay/upstream.js';
import { VERSION } from '../version.js';
import { ClusterCounters } from '../cluster/cluster-counters.js';
import { ClusterNode, lazyRemoteSet } from '../cluster/cluster-node.js';
import { CLUSTER_PATH } from '../cluster/peer-auth.js';
import { dialCheck, entryCheck, tokenCheck } from '../access/guard.js';
import { AccessRules, DenyList, DestinationPolicy, type AccessRuleJson } from '../access/index.js';
import type { ClusterDirectory } from '../cluster/directory.js';
import { ClusterError, type ClusterRedis } from '../cluster/redis.js';
import { RedisTokens } from '../cluster/redis-tokens.js';
import { sha256Hex } from '../util/secrets.js';
import { AuditLog } from './audit-log.js';
import { AuthHandshakes, refuseAuth } from './auth-handshake.js';
import { AuthRateLimiter } from './auth-rate-limit.js';
import type { AuthDecision, TokenRoles } from './authenticate.js';
import type { LinkSocksServerEvents } from './events.js';
import { startConnector } from './handlers/connector.js';
import type { RoleContext } from './handlers/context.js';
import { startForward } from './handlers/forward.js';
import { startProvider } from './handlers/provider.js';
import { HttpFront } from './http-front.js';
import { advertiseUrl, joinCluster, withdrawBounded } from './cluster-join.js';
import { resolveServerOptions, type LinkSocksServerOptions, type ResolvedServerOptions } from './options.js';
import { ReverseListeners } from './reverse-listeners.js';
import { Sessions, type Session } from './sessions.js';
import { isInternal, TokenStore } from './token-store.js';
import type { AccessRuleInput, ReverseTokenOptions, ServerStatus, TokenRecord, TokenUsage } from './tokens.js';
import { ChannelGate, policyChain } from './channel-gate.js';
import { TokenExpiry } from './token-expiry.js';
import type { TokenPolicy } from './token-policy.js';
import { applyPolicyChange, changesPolicy, type TokenPolicyChange } from './token-policy-input.js';

/** [linksocks-ts] The AuthResponse error of a client whose token is disabled. */
export const TOKEN_DISABLED_ERROR = 'token is disabled';

/**
 * [linksocks-ts] Byte and quota figures of a token for `/api/status`, from the data-path meter
 * (which sets `LinkSocksServer.meterUsage`); absent fields are left out of the status.
 */
export type MeterUsage = Omit<TokenUsage, 'channels'>;
import { TokenAccounts } from './token-usage.js';

const PING_INTERVAL_MS = 30_000;
/** WebSocket close code of a client disconnected through kickClient (policy violation, RFC 6455 §7.4.1). */
const KICK_CLOSE_CODE = 1008;

/** Go clients ping every 30 s; three missed pings mean the peer is gone. */
const DEAD_AFTER_MS = 90_000;

/**
 * LinkSocks server: one HTTP port for the WebSocket endpoint (`/socket`, `/socket/…`) and the
 * token API; forward, reverse, agent (connector) and autonomy modes. This class is the public API
 * and the wiring; each concern lives in its own file (http-front, auth-handshake, sessions,
 * handlers/*, connector-management, reverse-listeners, token-store).
 *
 * Events: 'client-connected' ({ role, token, linkId, remoteAddress }), 'client-disconnected' (the
 * same with bytesIn, bytesOut), 'auth-failed' ({ reason, remoteAddress }), 'draining'
 * ({ timeoutMs }), 'channel-open' / 'channel-close' / 'connect' (see relay/observer.ts),
 * 'listener-error' (token, Error) when a reverse token's SOCKS port cannot be bound (also emitted
 * under its deprecated name 'listenerError'), 'error' (Error)
 * when the HTTP(S) server it created fails after listening.
 */
export class LinkSocksServer extends EventEmitter<LinkSocksServerEvents> {
  /** The options with every default filled in (frozen). */
  readonly options: ResolvedServerOptions;
  readonly counters = new RelayCounters();
  readonly store: TokenStore;
  /** @internal [linksocks-ts] Per-token usage, rate limits and quotas (policy fields of the records). */
  readonly accounts: TokenAccounts;
  /** Cluster mode: cross-instance channels and bytes of this instance (metrics). */
  readonly clusterCounters: ClusterCounters | undefined;
  /** Cluster mode: channels across instances (src/cluster/cluster-node.ts); set by start(). */
  private cluster: ClusterNode | undefined;
  /** Set with the `metrics` option; also usable by embedding programs. */
  readonly metricsRegistry: Registry | undefined;
  private readonly logger: Logger;
  private readonly front: HttpFront;
  private readonly handshakes: AuthHandshakes;
  private readonly sessions: Sessions;
  private readonly reverseListeners: ReverseListeners;
  private readonly roleContext: RoleContext;
  private readonly authLimiter: AuthRateLimiter;
  /** Destinations the server never dials for forward clients, whatever the rules (`denyTargets`). */
  private readonly denyTargets: DenyList;
  private readonly auditLog: AuditLog | undefined;
  private closing = false;
  private draining = false;
  /** Live figures and recent events for the admin page; with an API key only. */
  private readonly feed: AdminFeed | undefined;
  /** Transport grace: resumable channels per token, kept across a lost link. */
  private readonly resumable = new Map<string, ResumableChannels>();
  /** Transport grace: reverse-port channels per pool waiting for their provider to come back. */
  private readonly owners = new Map<string, SuspendedOwners>();
  private readonly providerInstances = new WeakMap<Link, string>();
  /** Transport grace: agent-mode routes per provider pool. */
  private readonly routes = new Map<string, GraceRoutes>();
  /** [linksocks-ts] Token policy admission of new channels (disabled, max_channels). */
  readonly channelGate: ChannelGate;
  /** [linksocks-ts] The one timer of `expires_at`. */
  private readonly expiry: TokenExpiry;
  /**
   * [linksocks-ts] Hook for the data-path meter: bytes and quota used of a token, shown next to
   * `channels` in `/api/status` (`usage.bytes_up`, `bytes_down`, `quota_used`, `quota_resets_at`).
   */
  meterUsage: ((token: string) => MeterUsage | undefined) | undefined = undefined;
  /** Cluster mode: presence and provider counts of the instances (set by start() with `cluster.url`). */
  private directory: ClusterDirectory | undefined;
  /** Cluster mode with `cluster.url`: the one Redis connection of this server (closed last). */
  private clusterRedis: ClusterRedis | undefined;
  private clusterLeft: Promise<void> | undefined;
  /** Cluster mode with `cluster.url`: tokens live in Redis, `store` is the local view (start()). */
  private clusterTokens: RedisTokens | undefined;
  /** Access rules given as options: written to the cluster store once it is loaded. */
  private readonly initialAccess: { entry?: AccessRules; dial?: AccessRules } | undefined;

  /** Throws InvalidArgumentError (naming the option) for an option of the wrong type or range. */
  constructor(userOptions: LinkSocksServerOptions = {}) {
    super();
    const options = (this.options = resolveServerOptions(userOptions));
    const logger = (this.logger = options.logger);
    // Rules and presets were checked by resolveServerOptions; parsed here for use.
    this.denyTargets = DenyList.fromPresets(options.denyTargets);
    const initialAccess = (this.initialAccess = options.access && {
      ...(options.access.entry !== undefined && { entry: AccessRules.parse(options.access.entry, 'access.entry') }),
      ...(options.access.dial !== undefined && { dial: AccessRules.parse(options.access.dial, 'access.dial') }),
    });
    this.store = new TokenStore({ portRange: options.portPool, stateFile: options.stateFile });
    this.directory = options.cluster?.directory;
    // Rules given as options win over the state file's (and are written to it).
    if (initialAccess) this.store.setAccess(initialAccess);
    this.store.on('removed', (record: TokenRecord) => this.onTokenRemoved(record));
    this.store.on('changed', (record: TokenRecord, before: TokenRecord) => this.onTokenChanged(record, before));
    this.store.on('added', (record: TokenRecord) => this.expiry.added(record));
    const accounts = (this.accounts = new TokenAccounts({
      logger,
      save: options.stateFile ? () => this.store.saveUsage() : undefined,
      onExhausted: (event) => this.emit('quota-exhausted', event),
    }));
    for (const record of this.store.list()) accounts.configure(record.token, record.policy);
    accounts.restore(this.store.savedUsage);
    this.store.setUsageSource(() => accounts.snapshot());
    this.store.on('added', (record: TokenRecord) => accounts.configure(record.token, record.policy));
    this.store.on('changed', (record: TokenRecord) => accounts.configure(record.token, record.policy));
    this.meterUsage = (token) => accounts.status(token);
    this.authLimiter = new AuthRateLimiter(options.authRateLimit);
    this.clusterCounters = options.cluster ? new ClusterCounters() : undefined;
    const graceMs = options.transportGraceMs;
    this.auditLog = options.auditLog ? new AuditLog(this, { target: options.auditLog, logger }) : undefined;
    const forwardObserver = eventObserver(this, logger, 'forward');
    const reverseEvents = eventObserver(this, logger, 'reverse');
    // Provider health: a Connect left unanswered is the provider's fault; any answer (a target's
    // refusal included) shows the provider is alive.
    const reverseObserver: ChannelObserver = {
      ...reverseEvents,
      connected: (result) => {
        reverseEvents.connected?.(result);
        if (result.linkId === undefined) return;
        if (result.answered) this.sessions.providerOutcome(result.linkId, true);
        else if (result.unanswered) this.sessions.providerOutcome(result.linkId, false);
      },
      closed: (stats) => {
        reverseEvents.closed?.(stats);
        // Fast open: the SOCKS client was answered at once, the provider never confirmed.
        if (stats.linkId !== undefined && stats.error === 'connect response timeout') this.sessions.providerOutcome(stats.linkId, false);
      },
    };
    // Parsed once so a bad URL fails at construction (UpstreamProxyError), not on the first dial.
    const upstream = options.upstreamProxy ? parseUpstreamProxy(options.upstreamProxy) : undefined;
    const dialTcp = createTcpDialer(upstream, options.connectTimeoutMs);
    this.sessions = new Sessions(this.store, {
      ...options.providerHealth,
      logger,
      onChange: (session, ejected, backoffMs) =>
        this.emit('provider-health', { token: session.token, linkId: session.link.id, ejected, backoffMs }),
      ...(options.cluster && {
        remoteFor: (token: string) => lazyRemoteSet(() => this.cluster, token, options.cluster?.preferLocal === true),
        onPoolSize: (token: string, size: number) => this.cluster?.publish(token, size),
      }),
    });
    this.channelGate = new ChannelGate(this.store, this.sessions, (token, reason) => {
      this.logger.info({ reason }, 'Channel refused by token policy');
      this.emit('policy-refused', { token, reason });
    });
    this.channelGate.addCheck((token) => (accounts.admits(token) ? undefined : 'quota'));
    this.reverseListeners = new ReverseListeners({
      server: options,
      channel: {
        fastOpen: options.fastOpen,
        connectTimeoutMs: options.providerConnectTimeoutMs,
        maxPayload: options.bufferSize,
        observer: reverseObserver,
      },
      poolFor: (token) => this.sessions.poolFor(token),
      // A token's own rules replace the server-wide entry rules on its port (upstream).
      meterFor: (token) => accounts.meterFor(token),
      entryChecks: (token) => {
        const own = this.store.get(token)?.rules;
        return [entryCheck(new DestinationPolicy(own ?? this.store.access.entry))];
      },
      gate: (token) => this.channelGate.openPortChannel(token),
      graceFor: (token) => (graceMs > 0 ? { ms: graceMs, registry: this.ownersFor(token) } : undefined),
      onListenError: (token, error) => {
        // Emitted only when listened to: not 'error', so an unhandled one must not throw either.
        if (this.listenerCount('listener-error') > 0) this.emit('listener-error', token, error);
        if (this.listenerCount('listenerError') > 0) this.emit('listenerError', token, error);
      },
      logger,
    });
    // Re-binds a channel a client names in a Resume (forward and connector links): none is held
    // across links yet, so every Resume of a channel not on its own link is refused.
    const resumeChannel: ResumeChannel = () => false;
    this.roleContext = {
      options,
      logger,
      store: this.store,
      accounts,
      sessions: this.sessions,
      listeners: this.reverseListeners,
      maxChannelsPerLink: options.maxChannelsPerLink,
      gate: this.channelGate,
      agentObserver: agentObserver(eventObserver(this, logger, 'agent'), this.sessions),
      isDraining: () => this.draining,
      clusterTokens: () => this.clusterTokens,
      directory: () => this.directory,
      dialingOptions: (token) => ({
        ...dialingOptions(dialTcp, upstream, options, forwardObserver),
        meter: accounts.meterFor(token),
        openUdp: udpChannelOpener({ upstream, meter: accounts.meterFor(token) }),
        // Read at every Connect: PUT /api/config/access applies to open sessions too.
        access: () => [
          tokenCheck(new DestinationPolicy(this.store.get(token)?.rules)),
          dialCheck(new DestinationPolicy(this.store.access.dial, this.denyTargets)),
        ],
        checkTimeoutMs: options.connectTimeoutMs,
        resumeChannel,
      }),
      resumeChannel,
      transportGraceMs: graceMs,
      ownersFor: (poolToken) => this.ownersFor(poolToken),
      routesFor: (poolToken) => {
        let routes = this.routes.get(poolToken);
        if (!routes) {
          routes = new GraceRoutes((link) => this.providerInstances.get(link) ?? '');
          this.routes.set(poolToken, routes);
        }
        return routes;
      },
      providerInstances: this.providerInstances,
      resumableFor: (token) => {
        let registry = this.resumable.get(token);
        if (!registry) {
          registry = new ResumableChannels();
          this.resumable.set(token, registry);
        }
        return registry;
      },
    };
    this.handshakes = new AuthHandshakes(tokenRoles(this.store), logger);
    this.expiry = new TokenExpiry({
      list: () => this.store.list(),
      expire: (record) => {
        // Cluster: removed from Redis too (every instance's timer tries, the first one removes it);
        // here at once in any case, so an expired token is not served while Redis is unreachable.
        this.clusterTokens?.remove(record.token).catch((err: unknown) => {
          this.logger.warn({ err: (err as Error).message }, 'cannot remove an expired token from the cluster store yet');
        });
        if (this.store.remove(record.token).length > 0) this.logger.info({ type: record.kind }, 'Token expired and removed');
      },
      onError: (_record, err) => this.logger.error({ err: (err as Error).message }, 'cannot remove an expired token, retrying'),
    });
    // Tokens of the state file whose time passed while the server was down go now.
    this.expiry.sweep();
    this.metricsRegistry = options.metrics ? attachMetrics(this) : undefined;
    this.feed = options.apiKey ? new AdminFeed(this, this.store) : undefined;
    this.front = new HttpFront({
      server: options,
      api: createApiHandler({ admin: this.admin(), monitor: this.feed, apiKey: options.apiKey, apiKeys: options.apiKeys, logger }),
      metricsRegistry: this.metricsRegistry,
      authLimiter: this.authLimiter,
      logger,
      isDraining: () => this.draining,
      isClosing: () => this.closing,
      onWebSocket: (ws, req, socket) => this.onWebSocket(ws, req, socket),
      onError: (err) => this.emit('error', err),
      ...(options.cluster && {
        clusterPath: CLUSTER_PATH,
        onClusterUpgrade: (req: IncomingMessage, socket: Socket, accept: Parameters<ClusterNode['upgrade']>[2]) => {
          if (this.cluster) this.cluster.upgrade(req, socket, accept);
          else socket.destroy();
        },
      }),
    });
  }

  /**
   * `rules`: the token's destination rules (access control); a malformed one throws AccessRuleError.
   * `policy` [linksocks-ts]: limits, quota, expiry; a bad value throws TokenError naming the field.
   */
  addForwardToken(token?: string, rules?: readonly AccessRuleInput[], policy?: Omit<TokenPolicyChange, 'strategy'>): string {
    this.assertLocalTokens('addForwardToken');
    const added = this.store.addForward(token, parseRules(rules), resolvePolicy(policy));
    this.logger.info('New forward proxy token added');
    return added.token;
  }

  addReverseToken(options: ReverseTokenOptions = {}): { token: string; port: number } {
    this.assertLocalTokens('addReverseToken');
    const added = this.store.addReverse({ ...options, rules: parseRules(options.rules), policy: resolvePolicy(options.policy) });
    if (options.allowManageConnector) this.logger.info('New autonomy reverse token added');
    else this.logger.info({ port: added.port }, 'New reverse proxy token added');
    return { token: added.token, port: added.port };
  }

  addConnectorToken(
    token: string | undefined,
    reverseToken: string,
    rules?: readonly AccessRuleInput[],
    policy?: Omit<TokenPolicyChange, 'strategy'>,
  ): string {
    this.assertLocalTokens('addConnectorToken');
    const added = this.store.addConnector(token, reverseToken, parseRules(rules), resolvePolicy(policy));
    this.logger.info('New connector token added');
    return added.token;
  }

  /** Removes any token, closing its connections and listener. Returns false for unknown tokens. */
  removeToken(token: string): boolean {
    this.assertLocalTokens('removeToken');
    return this.store.remove(token).length > 0;
  }

  /**
   * [linksocks-ts] Changes a token's policy (and a reverse token's `strategy`) while it runs, with
   * immediate effect: `null` clears a field, an absent one stays. Checked whole before anything
   * changes (TokenError naming the field; ERR_LINKSOCKS_TOKEN_UNKNOWN for an unknown token);
   * persisted in the state file. Disabling disconnects the token's clients (and those of its
   * connector tokens) and refuses new ones and new channels; the token and its port stay.
   * Returns the token's policy after the change (undefined: none left).
   */
  updateToken(token: string, change: TokenPolicyChange): TokenPolicy | undefined {
    this.assertLocalTokens('updateToken');
    const after = this.store.update(token, change);
    this.logger.info({ type: after.kind }, 'Token policy changed');
    return after.policy;
  }

  /** [linksocks-ts] What a token uses now: open channels, and the meter's figures when it runs. */
  tokenUsage(token: string): TokenUsage {
    return { channels: this.channelGate.count(token), ...this.meterUsage?.(token) };
  }

  /**
   * The token methods that work in every mode: in cluster mode (`cluster.url`) they write to Redis
   * and resolve once the change applies here (every other instance applies it as it arrives); they
   * reject with ClusterError ERR_CLUSTER_UNAVAILABLE while Redis is unreachable. Without a
   * cluster they do what the synchronous methods do.
   */
  async addForwardTokenAsync(token?: string, rules?: readonly AccessRuleInput[], policy?: Omit<TokenPolicyChange, 'strategy'>): Promise<string> {
    const cluster = this.clusterTokensOrLocal();
    if (cluster === undefined) return this.addForwardToken(token, rules, policy);
    const added = await cluster.addForward(token, parseRules(rules), resolvePolicy(policy));
    this.logger.info('New forward proxy token added');
    return added.token;
  }

  async addReverseTokenAsync(options: ReverseTokenOptions = {}): Promise<{ token: string; port: number }> {
    const cluster = this.clusterTokensOrLocal();
    if (cluster === undefined) return this.addReverseToken(options);
    const added = await cluster.addReverse({ ...options, rules: parseRules(options.rules), policy: resolvePolicy(options.policy) });
    if (options.allowManageConnector) this.logger.info('New autonomy reverse token added');
    else this.logger.info({ port: added.port }, 'New reverse proxy token added');
    return { token: added.token, port: added.port };
  }

  async addConnectorTokenAsync(
    token: string | undefined,
    reverseToken: string,
    rules?: readonly AccessRuleInput[],
    policy?: Omit<TokenPolicyChange, 'strategy'>,
  ): Promise<string> {
    const cluster = this.clusterTokensOrLocal();
    if (cluster === undefined) return this.addConnectorToken(token, reverseToken, rules, policy);
    const added = await cluster.addConnector(token, reverseToken, parseRules(rules), resolvePolicy(policy));
    this.logger.info('New connector token added');
    return added.token;
  }

  /** [linksocks-ts] updateToken in every mode (see addForwardTokenAsync). */
  async updateTokenAsync(token: string, change: TokenPolicyChange): Promise<TokenPolicy | undefined> {
    const cluster = this.clusterTokensOrLocal();
    if (cluster === undefined) return this.updateToken(token, change);
    const after = await cluster.update(this.store.updated(token, change));
    this.logger.info({ type: after.kind }, 'Token policy changed');
    return after.policy;
  }

  async removeTokenAsync(token: string): Promise<boolean> {
    const cluster = this.clusterTokensOrLocal();
    if (cluster === undefined) return this.removeToken(token);
    return cluster.remove(token);
  }

  async setAccessRulesAsync(change: { entry?: readonly AccessRuleInput[] | null; dial?: readonly AccessRuleInput[] | null }): Promise<void> {
    const cluster = this.clusterTokensOrLocal();
    if (cluster === undefined) {
      this.setAccessRules(change);
      return;
    }
    const entry = change.entry === undefined ? undefined : AccessRules.parse(change.entry, 'entry');
    const dial = change.dial === undefined ? undefined : AccessRules.parse(change.dial, 'dial');
    await cluster.setAccess({ ...(entry && { entry }), ...(dial && { dial }) });
    this.logger.info({ entry: this.store.access.entry.size, dial: this.store.access.dial.size }, 'Access rules updated');
  }

  /** Undefined without a Redis cluster; the cluster store once started; refuses before start(). */
  private clusterTokensOrLocal(): RedisTokens | undefined {
    if (this.options.cluster?.url === undefined) return undefined;
    if (this.clusterTokens === undefined) throw new ClusterError('ERR_CLUSTER_UNAVAILABLE', 'cluster store (Redis) is not connected yet: call start() first');
    return this.clusterTokens;
  }

  /** The synchronous token methods cannot wait for Redis: in cluster mode they point to the async ones. */
  private assertLocalTokens(method: string): void {
    if (this.options.cluster?.url === undefined) return;
    throw new ClusterError('ERR_CLUSTER_ASYNC_ONLY', `${method}() cannot write the cluster's token store (Redis); use ${method}Async() in cluster mode`);
  }

  /** Token list as `/api/status` shows it; idle forward tokens count 0 (API.md §5, unlike Go). */
  status(): ServerStatus {
    // In a cluster, clients on the other instances count too.
    const remote = (token: string): number => this.directory?.remoteClients(this.store.get(token)?.hash ?? sha256Hex(token)) ?? 0;
    const tokens = this.store.statusEntries((token) => this.sessions.countFor(token) + remote(token), { usage: (token) => this.tokenUsage(token) });
    return { version: `v${VERSION}`, tokens };
  }

  /** Server-wide access rules in Go's output form (GET /api/config/access). */
  accessRules(): { entry: AccessRuleJson[] | null; dial: AccessRuleJson[] | null } {
    const { entry, dial } = this.store.access;
    return { entry: entry.isEmpty ? null : entry.toJSON(), dial: dial.isEmpty ? null : dial.toJSON() };
  }

  /**
   * Replaces server-wide entry and/or dial rules at run time (PUT /api/config/access): an absent
   * side stays, `[]` clears it. Both sides are parsed before either changes (AccessRuleError).
   */
  setAccessRules(change: { entry?: readonly AccessRuleInput[] | null; dial?: readonly AccessRuleInput[] | null }): void {
    this.assertLocalTokens('setAccessRules');
    const entry = change.entry === undefined ? undefined : AccessRules.parse(change.entry, 'entry');
    const dial = change.dial === undefined ? undefined : AccessRules.parse(change.dial, 'dial');
    this.store.setAccess({ ...(entry && { entry }), ...(dial && { dial }) });
    this.logger.info({ entry: this.store.access.entry.size, dial: this.store.access.dial.size }, 'Access rules updated');
  }

  /** [linksocks-ts] Connected WebSocket clients of all tokens, as `/api/clients` lists them. */
  clients(): ClientEntry[] {
    return this.sessions.list().map(clientEntry);
  }

  /**
   * [linksocks-ts] The connected clients of one token (`GET /api/token/{token}/clients`), in the
   * order they authenticated; undefined when the token is unknown.
   */
  tokenClients(token: string): TokenClientEntry[] | undefined {
    const record = this.store.get(token);
    if (record === undefined || isInternal(record)) return undefined;
    const nodeId = this.options.cluster?.nodeId ?? null;
    return this.sessions
      .list()
      .filter((session) => session.token === token && !session.link.isClosed)
      .map((session) => tokenClientEntry(session, nodeId));
  }

  /**
   * [linksocks-ts] Disconnects client `id` of `token` now (`DELETE /api/token/{token}/clients/{id}`):
   * a deliberate close, so its channels end at once on both sides (no transport grace). The token
   * stays; a provider may reconnect. False when the token or the client is unknown.
   */
  kickClient(token: string, id: number): boolean {
    const record = this.store.get(token);
    if (record === undefined || isInternal(record)) return false;
    const session = this.sessions.list().find((s) => s.token === token && s.link.id === id && !s.link.isClosed);
    if (!session) return false;
    const remoteAddress = remoteAddressOf(session.socket);
    this.logger.info({ link: id, role: session.role, remote: remoteAddress }, 'Client disconnected by the administrator');
    this.emit('client-kicked', { role: session.role, token, linkId: id, remoteAddress });
    session.link.close(KICK_CLOSE_CODE, 'disconnected by the administrator');
    return true;
  }

  /** In cluster mode also connects Redis first and announces this instance once listening. */
  async start(): Promise<void> {
    const cluster = this.options.cluster;
    if (cluster) {
      const joined = await joinCluster(cluster, this.logger);
      this.directory = joined.directory;
      this.clusterRedis = joined.redis;
      // Ready for instance links as soon as the port listens; it follows the directory once announced.
      this.cluster = this.clusterNode(cluster, joined.directory);
    }
    try {
      // Every token is loaded before the server listens.
      await this.startClusterTokens();
      await this.front.start();
      if (cluster && this.directory) {
        await this.directory.announce(advertiseUrl(cluster.advertiseUrl, this.front.address(), this.options.tls !== undefined, this.logger));
        this.logger.info({ node: this.directory.nodeId }, 'cluster: instance announced');
      }
    } catch (err) {
      this.clusterTokens?.close();
      this.clusterTokens = undefined;
      await this.leaveCluster();
      await this.clusterRedis?.close();
      throw err;
    }
    this.cluster?.start();
    this.feed?.start();
  }

  /** Cluster mode: the part that carries channels across instances (src/cluster/). */
  private clusterNode(cluster: NonNullable<ResolvedServerOptions['cluster']>, directory: ClusterDirectory): ClusterNode {
    const options = this.options;
    return new ClusterNode({
      directory,
      secret: cluster.secret,
      store: this.store,
      sessions: this.sessions,
      listeners: this.reverseListeners,
      logger: this.logger,
      relayCounters: this.counters,
      clusterCounters: this.clusterCounters!,
      channelIdleTimeoutMs: options.channelIdleTimeoutMs,
      maxChannelsPerLink: options.maxChannelsPerLink,
      providerWaitMs: options.connectorWaitProviderMs,
      preferLocal: cluster.preferLocal === true,
      observer: this.roleContext.agentObserver,
      isDraining: () => this.draining,
      onAuthFailure: (reason, socket) => {
        this.authLimiter.recordFailure(socket.remoteAddress);
        this.logger.info({ reason, remote: socket.remoteAddress }, 'Authentication failed');
        this.emit('auth-failed', { reason, remoteAddress: socket.remoteAddress ?? '' });
      },
    });
  }

  /** [linksocks-ts] Cluster state for metrics and status; undefined outside cluster mode. */
  get clusterInfo(): { nodeId: string; nodes: number; redisUp: boolean | undefined } | undefined {
    const cluster = this.options.cluster;
    if (!cluster) return undefined;
    return {
      nodeId: this.directory?.nodeId ?? cluster.nodeId ?? '',
      nodes: this.directory?.nodeCount() ?? 0,
      redisUp: cluster.url !== undefined ? (this.clusterRedis?.isUp ?? false) : undefined,
    };
  }

  /** Replaces the TLS certificate for new connections; open ones keep theirs (SIGHUP in the CLI). */
  reloadTls(tls: { cert: string | Buffer; key: string | Buffer }): void {
    this.front.reloadTls(tls);
    this.logger.info('TLS certificate reloaded');
  }

  address(): AddressInfo {
    return this.front.address();
  }

  /** Reopens the audit log file at its path (SIGHUP in the CLI, after logrotate moved it). */
  reopenAuditLog(): void {
    this.auditLog?.reopen();
  }

  /** Audit lines dropped because the writer could not keep up (0 without an audit log). */
  get auditLinesDropped(): number {
    return this.auditLog?.dropped ?? 0;
  }

  /** [linksocks-ts] Cluster mode: the open instance links, to other instances and from them. */
  clusterLinks(): { outgoing: Link[]; incoming: Link[] } {
    return this.cluster?.links() ?? { outgoing: [], incoming: [] };
  }

  /** The bound address of a reverse token's SOCKS5 listener, once a provider has opened it. */
  socksAddress(token: string): AddressInfo | undefined {
    return this.reverseListeners.address(token);
  }

  /**
   * Graceful shutdown: stop accepting SOCKS connections, WebSocket upgrades and new channels, let
   * open channels finish for up to `timeoutMs`, then close everything.
   */
  async drain(timeoutMs = 30_000): Promise<void> {
    if (this.closing) return;
    this.draining = true;
    this.emit('draining', { timeoutMs });
    this.logger.info({ timeoutMs }, 'Draining: waiting for open channels to finish');
    // Other instances stop sending new channels here first; the ones they sent finish.
    this.cluster?.stopServing();
    await this.reverseListeners.stopAccepting();
    const busy = [...this.sessions.busyLinks(), ...(this.cluster?.busyLinks() ?? [])];
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
    this.expiry.stop();
    // Deregistered before anything closes. Not at the start of a drain: other instances cut their
    // links to an instance that left, and channels they carry through this one are allowed to finish.
    if (this.options.cluster) await this.leaveCluster();
    this.feed?.stop();
    this.cluster?.close();
    this.handshakes.terminateAll();
    // Channels end when their link's 'close' arrives (a tick later): the audit log waits for it.
    const ending = this.auditLog ? linksClosed(this.sessions.busyLinks(), 2000) : undefined;
    this.sessions.closeAll(1001);
    for (const registry of this.resumable.values()) registry.dropSuspended();
    for (const owners of this.owners.values()) owners.dropAll();
    for (const routes of this.routes.values()) routes.dropAll();
    await this.reverseListeners.closeAll();
    this.sessions.cancelAllWaiters();
    await this.front.close();
    await ending;
    this.accounts.close();
    await this.auditLog?.close();
    this.clusterTokens?.close();
    await this.clusterRedis?.close();
  }

  /** Deregisters from the cluster once (close, failed start). */
  private leaveCluster(): Promise<void> {
    const directory = this.directory;
    if (!directory || !this.options.cluster) return Promise.resolve();
    this.clusterLeft ??= withdrawBounded(directory, this.logger);
    return this.clusterLeft;
  }

  /** Publishes how many clients of `token` this instance holds (summed by /api/status elsewhere). */
  private publishClients(token: string): void {
    this.directory?.setLocalClients(this.store.get(token)?.hash ?? sha256Hex(token), this.sessions.countFor(token));
  }

  /**
   * Cluster mode with `cluster.url`: the cluster's token store on the shared Redis connection,
   * loaded whole (ClusterError ERR_CLUSTER_AUTH for another cluster secret, ERR_CLUSTER_UNAVAILABLE
   * when Redis fails meanwhile); options' access rules then win, as they do over a state file's.
   */
  private async startClusterTokens(): Promise<void> {
    const cluster = this.options.cluster;
    if (cluster?.url === undefined || this.clusterRedis === undefined || this.clusterTokens !== undefined) return;
    const tokens = new RedisTokens(this.clusterRedis, this.store, { secret: cluster.secret, logger: this.logger });
    this.clusterTokens = tokens;
    await tokens.start();
    if (this.initialAccess) await tokens.setAccess(this.initialAccess);
  }

  // ---- wiring -------------------------------------------------------------------------------

  /** The reverse-port channels of a pool that wait for their provider instance to come back. */
  private ownersFor(poolToken: string): SuspendedOwners {
    let owners = this.owners.get(poolToken);
    if (!owners) {
      const instances = this.providerInstances;
      owners = new SuspendedOwners(
        (instance) =>
          this.sessions.poolFor(poolToken).list().find((l) => l.peerResumes && !l.isClosed && instances.get(l) === instance),
        (link) => instances.get(link) ?? '',
      );
      this.owners.set(poolToken, owners);
    }
    return owners;
  }

  private onWebSocket(ws: WebSocket, req: IncomingMessage, socket: Socket): void {
    this.handshakes.begin(ws, req, (decision) => this.onDecision(ws, socket, decision));
  }

  private onDecision(ws: WebSocket, socket: Socket, decided: AuthDecision): void {
    let decision = decided;
    // A disabled token is a valid one: its clients are refused, but not counted as guessing
    // (the auth rate limiter would otherwise ban the address of a provider that keeps retrying).
    let guessing = true;
    if (decision.ok && this.channelGate.isDisabled(decision.token)) {
      this.logger.info({ role: decision.role }, 'token is disabled, client refused');
      decision = { ok: false, error: TOKEN_DISABLED_ERROR };
      guessing = false;
    }
    if (decision.ok && this.sessions.countFor(decision.token) >= this.options.maxConnectionsPerToken) {
      this.logger.warn({ role: decision.role }, 'connection limit of a token reached, client refused');
      decision = { ok: false, error: 'too many connections for this token' };
    }
    if (!decision.ok) {
      if (guessing) this.authLimiter.recordFailure(socket.remoteAddress);
      this.logger.info({ reason: decision.error, remote: socket.remoteAddress }, 'Authentication failed');
      this.emit('auth-failed', { reason: decision.error, remoteAddress: socket.remoteAddress ?? '' });
      refuseAuth(ws, decision.error);
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
      // Forward clients and connectors send Connects: Data that overtakes its Connect is held.
      ...(decision.role === 'reverse' ? {} : { earlyData: {} }),
      logger: this.logger,
      counters: this.counters,
    });
    const session: Session = { link, token: decision.token, role: decision.role, socket, connectedAt: Date.now(), instance: decision.instance };
    this.sessions.add(session);
    this.publishClients(session.token);
    this.emit('client-connected', { role: decision.role, token: decision.token, linkId: link.id, remoteAddress: remoteAddressOf(socket) });
    link.on('close', () => this.onSessionClosed(session));
    switch (decision.role) {
      case 'forward':
        startForward(session, this.roleContext);
        break;
      case 'reverse':
        void startProvider(session, decision.instance, this.roleContext);
        break;
      case 'connector':
        startConnector(session, this.roleContext);
        break;
    }
  }

  private onSessionClosed(session: Session): void {
    this.sessions.delete(session);
    this.publishClients(session.token);
    this.emit('client-disconnected', {
      role: session.role,
      token: session.token,
      linkId: session.link.id,
      remoteAddress: remoteAddressOf(session.socket),
      bytesIn: session.socket.bytesRead,
      bytesOut: session.socket.bytesWritten,
    });
    this.sessions.leavePool(session);
    this.logger.debug({ link: session.link.id, role: session.role }, 'Client disconnected');
  }

  /** [linksocks-ts] A policy change: disabling throws the clients out; expiry re-arms. */
  private onTokenChanged(record: TokenRecord, before: TokenRecord): void {
    if (record.policy?.disabled === true && before.policy?.disabled !== true) {
      this.logger.info({ type: record.kind }, 'Token disabled, its clients are disconnected');
      for (const session of this.sessions.list()) {
        const governed = session.poolToken === record.token || policyChain(this.store, session.token).some((r) => r.token === record.token);
        if (governed) session.link.close(1008);
      }
    } else if (before.policy?.disabled === true && record.policy?.disabled !== true) {
      this.logger.info({ type: record.kind }, 'Token enabled');
    }
    if (record.policy?.expiresAt !== before.policy?.expiresAt) this.expiry.reschedule();
  }

  private onTokenRemoved(record: TokenRecord): void {
    this.expiry.reschedule();
    this.logger.info({ type: record.kind }, 'Token removed');
    this.sessions.closeFor(record.token, 1001);
    this.resumable.get(record.token)?.dropSuspended();
    this.resumable.delete(record.token);
    this.owners.get(record.token)?.dropAll();
    this.owners.delete(record.token);
    this.routes.get(record.token)?.dropAll();
    this.routes.delete(record.token);
    this.reverseListeners.closeFor(record.token);
    this.sessions.dropPool(record.token);
    this.accounts.forget(record.token);
    this.cluster?.tokenRemoved(record.token);
  }

  private admin(): TokenAdmin {
    return {
      addForwardToken: (token, rules, policy) => this.addForwardTokenAsync(token, rules, policy),
      addReverseToken: (opts) => this.addReverseTokenAsync(opts),
      addConnectorToken: (token, reverseToken, rules, policy) => this.addConnectorTokenAsync(token, reverseToken, rules, policy),
      updateToken: (token, change) => this.updateTokenAsync(token, change),
      accessRules: () => this.accessRules(),
      setAccessRules: (change) => this.setAccessRulesAsync(change),
      removeToken: (token) => this.removeTokenAsync(token),
      status: () => this.status(),
      clients: () => this.clients(),
      tokenClients: (token) => this.tokenClients(token),
      kickClient: (token, id) => this.kickClient(token, id),
      tokenDetails: () => tokenDetailEntries(this.store, (token) => this.sessions.countFor(token), (token) => this.tokenUsage(token)),
    };
  }
}

/** A new token's policy, checked (TokenError naming the field) before anything is created. */
function resolvePolicy(policy: Omit<TokenPolicyChange, 'strategy'> | undefined): TokenPolicy | undefined {
  return policy === undefined || !changesPolicy(policy) ? undefined : applyPolicyChange(undefined, policy);
}

/** Token rules as given to the token methods; parsed before anything is created. */
function parseRules(rules: readonly AccessRuleInput[] | undefined): AccessRules | undefined {
  if (rules === undefined) return undefined;
  const parsed = AccessRules.parse(rules, 'rules');
  return parsed.isEmpty ? undefined : parsed;
}

/** What authentication needs to know about the tokens in the store. */
function tokenRoles(store: TokenStore): TokenRoles {
  return {
    isForward: (t) => store.get(t)?.kind === 'forward',
    // Internal tokens are reverse tokens too, but only the server itself may use them.
    isReverse: (t) => {
      const record = store.get(t);
      return record?.kind === 'reverse' && record.internal !== true;
    },
    isLiveConnector: (t) => {
      const record = store.get(t);
      return record?.kind === 'connector' && store.get(record.reverseToken)?.kind === 'reverse';
    },
    tokenForHash: (hash) => store.getByHash(hash)?.token,
  };
}

/** How forward clients' targets are dialed (directly or through the upstream proxy). */
function dialingOptions(
  dialTcp: TcpDialer,
  upstream: UpstreamProxy | undefined,
  options: ResolvedServerOptions,
  observer: ChannelObserver,
): DialingSideOptions {
  return {
    dialTcp,
    openUdp: udpChannelOpener({ upstream }),
    maxPayload: options.bufferSize,
    observer,
  };
}

/** Agent routes: events, and provider health from the provider's answers (any answer is healthy). */
function agentObserver(events: ChannelObserver, sessions: Sessions): ChannelObserver {
  return {
    ...events,
    connected: (result) => {
      events.connected?.(result);
      if (result.answered && result.providerLinkId !== undefined) sessions.providerOutcome(result.providerLinkId, true);
    },
  };
}

/** Resolves once every link has emitted 'close', or after `timeoutMs`. */
async function linksClosed(links: readonly Link[], timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  const all = Promise.all(links.map((link) => (link.isClosed ? undefined : new Promise<void>((resolve) => link.once('close', () => resolve())))));
  await Promise.race([all, expired]);
  clearTimeout(timer);
}

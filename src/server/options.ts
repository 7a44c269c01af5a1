/**
 * LinkSocksServer's options: what a caller may pass, their defaults, and the one function that
 * turns the former into a complete, checked, frozen object (the server reads nothing else).
 */
import { DEFAULT_TRANSPORT_GRACE_MS } from '../relay/grace.js';
import type { Server as HttpServer } from 'node:http';
import {
  DEFAULT_BUFFER_SIZE,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_SERVER_PORT,
  DEFAULT_SOCKS_HANDSHAKE_TIMEOUT_MS,
  LOOPBACK_HOST,
} from '../defaults.js';
import { InvalidArgumentError } from '../errors.js';
import type { Logger } from '../log.js';
import { DEFAULT_MAX_CHANNELS_PER_LINK } from '../relay/limits.js';
import { DEFAULT_CHANNEL_IDLE_MS } from '../relay/link.js';
import { DEFAULT_SOCKS_CONNECT_TIMEOUT_MS } from '../relay/socks-side.js';
import * as check from '../util/option-checks.js';
import { DEFAULT_AUTH_RATE_LIMIT } from './auth-rate-limit.js';
import { DEFAULT_PORT_RANGE } from './port-pool.js';
import { checkAccessRuleList, checkTargetPresets, type TargetPreset } from '../access/index.js';
import type { AccessRuleInput } from './tokens.js';
import type { ClusterDirectory } from '../cluster/directory.js';
import { randomBytes } from 'node:crypto';

export interface PortRange {
  min: number;
  max: number;
}

export interface LinkSocksServerOptions {
  /** WebSocket/API listen host (Go `-H`); default 0.0.0.0. */
  host?: string;
  /** WebSocket/API listen port (Go `-P`); default 8765; 0 picks a free port. */
  port?: number;
  /** Serve HTTPS/WSS with this PEM certificate chain and key (beyond Go, which needs a TLS front). */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Mount on this existing HTTP(S) server instead of creating one (host/port are then ignored). */
  httpServer?: HttpServer;
  /** Bind host of reverse-token SOCKS5 listeners (Go `-s`); default 127.0.0.1. */
  socksHost?: string;
  /** Port pool for reverse tokens; default 1024–10240. */
  portPool?: PortRange;
  /** Enables the HTTP API (Go `-k`). */
  apiKey?: string;
  /** More keys accepted by the API (upstream `APIKeys`): authentication only, they carry no rules. */
  apiKeys?: readonly string[];
  /**
   * Server-wide access rules (upstream's "entry" and "dial" settings): `entry` for requests on
   * reverse-token SOCKS ports without rules of their own, `dial` for targets dialled for forward
   * clients. When given they replace the ones in the state file. Malformed: AccessRuleError.
   */
  access?: { entry?: readonly AccessRuleInput[]; dial?: readonly AccessRuleInput[] };
  /** Destinations never dialled for forward clients, whatever the rules: presets `local`, `private`. */
  denyTargets?: readonly TargetPreset[];
  /** Reverse-token SOCKS5 ports also serve HTTP CONNECT (beyond Go); default true. */
  httpConnect?: boolean;
  /** Reverse SOCKS5 listeners reply success before the provider has connected (Go `-f`). */
  fastOpen?: boolean;
  /** Proxy for forward-mode target dials: socks5://… or http://… (Go `-x`). */
  upstreamProxy?: string;
  /** Largest Data payload this side sends; default 1 MiB (Go `-b` is its read buffer). */
  bufferSize?: number;
  /** Target dial timeout, DNS included; default 10 s. */
  connectTimeoutMs?: number;
  /** How long a reverse SOCKS connection waits for a provider; default 10 s. */
  providerWaitMs?: number;
  /** How long a connector's Connect waits for a provider; default 5 s. */
  connectorWaitProviderMs?: number;
  /** Channels idle this long are closed; default 12 h. */
  channelIdleTimeoutMs?: number;
  /**
   * Transport grace: how long channels survive the loss of their WebSocket, waiting to be resumed on
   * a new one (only with linksocks-ts peers that announce it); default 30 s as upstream, 0 = tear
   * down at once.
   */
  transportGraceMs?: number;
  /** Serve Prometheus metrics at `/metrics` on the HTTP port (behind the API key when one is set). */
  metrics?: boolean;
  /** Failed authentications allowed per remote address before upgrades get 429; see AuthRateLimiter. */
  authRateLimit?: { burst?: number; refillPerSecond?: number; maxAddresses?: number };
  /** Authenticated WebSockets one token may have at once; default 1024. */
  maxConnectionsPerToken?: number;
  /** Channels one WebSocket may hold open; default 16384. */
  maxChannelsPerLink?: number;
  /** SOCKS5 handshake deadline on reverse-token ports; default 10 s. */
  socksHandshakeTimeoutMs?: number;
  /** How long a reverse SOCKS connection waits for its provider's ConnectResponse; default 15 s. */
  providerConnectTimeoutMs?: number;
  /** Passive provider health: ejection after this many unanswered Connects in a row, back-off bounds. */
  providerHealth?: { failuresToEject?: number; baseBackoffMs?: number; maxBackoffMs?: number };
  /** Audit log: one JSON line per channel when it ends, appended to this file (`-`: stdout). */
  auditLog?: string;
  /** Persistent token store (beyond Go); memory only when absent. Refused together with `cluster.url`. */
  stateFile?: string;
  /** [linksocks-ts] Cluster mode (docs/cluster.md): instances that share tokens and carry channels to each other. */
  cluster?: ClusterOptions;
  logger?: Logger;
}

/** [linksocks-ts] How this server joins a cluster. */
export interface ClusterOptions {
  /** Redis URL (`redis://` or `rediss://`) where the cluster keeps its tokens and presence. */
  url?: string;
  /** A directory already built (a MemoryCluster member for servers of one process); instead of `url`. */
  directory?: ClusterDirectory;
  /** Shared by every instance; authenticates instance-to-instance links. Never logged or stored. */
  secret: string;
  /** How other instances reach this one (ws:// or wss://); default: derived from the bound address. */
  advertiseUrl?: string;
  /** This instance's id; default: random per start. */
  nodeId?: string;
  /**
   * Give channels to this instance's own providers while it has any, and to other instances only
   * when it has none (saves the extra hop, gives up cluster-wide fairness); default false.
   */
  preferLocal?: boolean;
}

/** Options without a default: absent means "not used". */
type Unset = 'tls' | 'httpServer' | 'apiKey' | 'upstreamProxy' | 'stateFile' | 'access' | 'auditLog' | 'providerHealth' | 'cluster';

/** The options as the server uses them: every default filled in, checked, frozen. */
export type ResolvedServerOptions = Readonly<
  Required<Omit<LinkSocksServerOptions, Unset | 'authRateLimit' | 'portPool'>> &
    Pick<LinkSocksServerOptions, Unset> & {
      portPool: Readonly<PortRange>;
      authRateLimit: Readonly<{ burst: number; refillPerSecond: number; maxAddresses: number }>;
    }
>;

/** The documented defaults (the CLI shows and uses the same values). */
export const SERVER_DEFAULTS = Object.freeze({
  host: '0.0.0.0',
  port: DEFAULT_SERVER_PORT,
  socksHost: LOOPBACK_HOST,
  portPool: DEFAULT_PORT_RANGE,
  httpConnect: true,
  fastOpen: false,
  transportGraceMs: DEFAULT_TRANSPORT_GRACE_MS,
  bufferSize: DEFAULT_BUFFER_SIZE,
  connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
  providerWaitMs: 10_000,
  providerConnectTimeoutMs: DEFAULT_SOCKS_CONNECT_TIMEOUT_MS,
  connectorWaitProviderMs: 5_000,
  channelIdleTimeoutMs: DEFAULT_CHANNEL_IDLE_MS,
  metrics: false,
  authRateLimit: DEFAULT_AUTH_RATE_LIMIT,
  maxConnectionsPerToken: 1024,
  maxChannelsPerLink: DEFAULT_MAX_CHANNELS_PER_LINK,
  socksHandshakeTimeoutMs: DEFAULT_SOCKS_HANDSHAKE_TIMEOUT_MS,
});

/**
 * Merges the defaults into `input` once and checks every option's type and range; throws
 * InvalidArgumentError naming the first bad option. The result is frozen.
 */
export function resolveServerOptions(input: LinkSocksServerOptions = {}): ResolvedServerOptions {
  const o = check.optionsObject(input) as LinkSocksServerOptions & Record<string, unknown>;
  const d = SERVER_DEFAULTS;
  const portPoolIn = check.optionalObject('portPool', o.portPool);
  const portPool = portPoolIn
    ? { min: check.integer('portPool.min', portPoolIn.min, d.portPool.min, 1, 65535), max: check.integer('portPool.max', portPoolIn.max, d.portPool.max, 1, 65535) }
    : d.portPool;
  if (portPool.min > portPool.max) {
    throw new InvalidArgumentError('portPool', `min (${portPool.min}) must not be above max (${portPool.max})`);
  }
  const rateIn = check.optionalObject('authRateLimit', o.authRateLimit) ?? {};
  const tlsIn = check.optionalObject('tls', o.tls);
  let tls: ResolvedServerOptions['tls'];
  if (tlsIn) {
    const cert = check.optionalPem('tls.cert', tlsIn.cert);
    const key = check.optionalPem('tls.key', tlsIn.key);
    if (cert === undefined) throw new InvalidArgumentError('tls.cert', 'is required with tls');
    if (key === undefined) throw new InvalidArgumentError('tls.key', 'is required with tls');
    tls = Object.freeze({ cert, key });
  }
  const httpServer = check.optionalObject('httpServer', o.httpServer);
  if (httpServer && typeof httpServer.listen !== 'function') {
    throw new InvalidArgumentError('httpServer', 'must be an http.Server or https.Server');
  }
  const resolved: ResolvedServerOptions = {
    host: check.host('host', o.host, d.host),
    port: check.port('port', o.port, d.port),
    tls,
    httpServer: o.httpServer,
    socksHost: check.host('socksHost', o.socksHost, d.socksHost),
    portPool: Object.freeze(portPool),
    apiKey: check.optionalString('apiKey', o.apiKey),
    httpConnect: check.boolean('httpConnect', o.httpConnect, d.httpConnect),
    fastOpen: check.boolean('fastOpen', o.fastOpen, d.fastOpen),
    transportGraceMs: check.milliseconds('transportGraceMs', o.transportGraceMs, d.transportGraceMs),
    upstreamProxy: check.optionalString('upstreamProxy', o.upstreamProxy),
    bufferSize: check.integer('bufferSize', o.bufferSize, d.bufferSize, 1),
    connectTimeoutMs: check.milliseconds('connectTimeoutMs', o.connectTimeoutMs, d.connectTimeoutMs),
    providerWaitMs: check.milliseconds('providerWaitMs', o.providerWaitMs, d.providerWaitMs),
    providerConnectTimeoutMs: check.milliseconds('providerConnectTimeoutMs', o.providerConnectTimeoutMs, d.providerConnectTimeoutMs),
    providerHealth: providerHealthOption(o.providerHealth),
    connectorWaitProviderMs: check.milliseconds('connectorWaitProviderMs', o.connectorWaitProviderMs, d.connectorWaitProviderMs),
    channelIdleTimeoutMs: check.milliseconds('channelIdleTimeoutMs', o.channelIdleTimeoutMs, d.channelIdleTimeoutMs),
    metrics: check.boolean('metrics', o.metrics, d.metrics),
    authRateLimit: Object.freeze({
      burst: check.integer('authRateLimit.burst', rateIn.burst, d.authRateLimit.burst, 1),
      refillPerSecond: check.positiveNumber('authRateLimit.refillPerSecond', rateIn.refillPerSecond, d.authRateLimit.refillPerSecond),
      maxAddresses: check.integer('authRateLimit.maxAddresses', rateIn.maxAddresses, d.authRateLimit.maxAddresses, 1),
    }),
    maxConnectionsPerToken: check.integer('maxConnectionsPerToken', o.maxConnectionsPerToken, d.maxConnectionsPerToken, 1),
    maxChannelsPerLink: check.integer('maxChannelsPerLink', o.maxChannelsPerLink, d.maxChannelsPerLink, 1),
    socksHandshakeTimeoutMs: check.milliseconds('socksHandshakeTimeoutMs', o.socksHandshakeTimeoutMs, d.socksHandshakeTimeoutMs),
    stateFile: check.optionalString('stateFile', o.stateFile),
    apiKeys: apiKeys(o.apiKeys),
    access: accessOption(o.access),
    denyTargets: checkTargetPresets('denyTargets', o.denyTargets),
    auditLog: check.optionalString('auditLog', o.auditLog),
    cluster: clusterOption(o.cluster, o.stateFile),
    logger: check.logger('logger', o.logger),
  };
  return Object.freeze(resolved);
}

/** Extra API keys: a list of non-empty strings. */
function apiKeys(value: unknown): readonly string[] {
  if (value === undefined) return Object.freeze([]);
  if (!Array.isArray(value) || value.some((key) => typeof key !== 'string' || key === '')) {
    throw new InvalidArgumentError('apiKeys', 'must be a list of non-empty strings');
  }
  return Object.freeze([...(value as string[])]);
}

/** Server-wide rules: each side parsed now (AccessRuleError naming `access.dial[0]…`), kept as given. */
function accessOption(value: unknown): LinkSocksServerOptions['access'] {
  const access = check.optionalObject('access', value);
  if (!access) return undefined;
  const entry = checkAccessRuleList('access.entry', access.entry);
  const dial = checkAccessRuleList('access.dial', access.dial);
  return Object.freeze({ ...(entry && { entry }), ...(dial && { dial }) });
}

/** `providerHealth`: each field optional, checked like the other numbers (defaults in provider-health.ts). */
function providerHealthOption(value: unknown): ResolvedServerOptions['providerHealth'] {
  const input = check.optionalObject('providerHealth', value);
  if (input === undefined) return undefined;
  const number = (key: 'failuresToEject' | 'baseBackoffMs' | 'maxBackoffMs', min: number): number | undefined =>
    input[key] === undefined ? undefined : check.integer(`providerHealth.${key}`, input[key], 0, min);
  const failuresToEject = number('failuresToEject', 1);
  const baseBackoffMs = number('baseBackoffMs', 0);
  const maxBackoffMs = number('maxBackoffMs', 0);
  return Object.freeze({
    ...(failuresToEject !== undefined && { failuresToEject }),
    ...(baseBackoffMs !== undefined && { baseBackoffMs }),
    ...(maxBackoffMs !== undefined && { maxBackoffMs }),
  });
}

/** `cluster`: Redis URL or a directory (one of them), a secret, optional advertise URL and node id. */
function clusterOption(value: unknown, stateFile: unknown): ResolvedServerOptions['cluster'] {
  const input = check.optionalObject('cluster', value);
  if (input === undefined) return undefined;
  const url = check.optionalString('cluster.url', input.url);
  const directory = check.optionalObject('cluster.directory', input.directory) as ClusterDirectory | undefined;
  if ((url === undefined) === (directory === undefined)) {
    throw new InvalidArgumentError('cluster', 'needs exactly one of url (Redis) or directory');
  }
  if (url !== undefined && !/^rediss?:\/\/./i.test(url)) {
    throw new InvalidArgumentError('cluster.url', 'must be a redis:// or rediss:// URL');
  }
  if (url !== undefined && stateFile !== undefined) {
    throw new InvalidArgumentError('stateFile', 'cannot be used with a cluster: Redis is the token store');
  }
  const secret = check.optionalString('cluster.secret', input.secret);
  if (secret === undefined || secret === '') throw new InvalidArgumentError('cluster.secret', 'is required');
  const advertiseUrl = check.optionalString('cluster.advertiseUrl', input.advertiseUrl);
  if (advertiseUrl !== undefined && !/^wss?:\/\/[^/]/i.test(advertiseUrl)) {
    throw new InvalidArgumentError('cluster.advertiseUrl', 'must be a ws:// or wss:// URL');
  }
  const nodeId = check.optionalString('cluster.nodeId', input.nodeId) ?? directory?.nodeId ?? randomBytes(6).toString('hex');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(nodeId)) {
    throw new InvalidArgumentError('cluster.nodeId', 'must be 1-64 letters, digits, dots, dashes or underscores');
  }
  const preferLocal = check.boolean('cluster.preferLocal', input.preferLocal, false);
  return Object.freeze({ ...(url !== undefined && { url }), ...(directory && { directory }), secret, ...(advertiseUrl !== undefined && { advertiseUrl }), nodeId, preferLocal });
}

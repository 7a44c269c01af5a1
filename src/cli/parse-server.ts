/**
 * `server` command: flags + environment → library options and the start-up token plan.
 * Pure (no I/O), so tests call it directly. Semantics: ../shared/spec/CLI.md §3, §4, §6.1 and
 * ../shared/spec/API.md §1 (an API key disables start-up tokens).
 */
import { randomBytes } from 'node:crypto';
import { redactRedisUrl } from '../cluster/redis.js';
import { DEFAULT_SOCKS_PORT } from '../defaults.js';
import { SERVER_DEFAULTS as LIBRARY_DEFAULTS, type LinkSocksServerOptions } from '../server/options.js';
import { isProviderStrategy, strategyError, type ProviderStrategy } from '../server/provider-strategy.js';
import { CliError } from './errors.js';
import { type HostPort, type OperatorFlags, parseOperatorFlags } from './operator-flags.js';
import type { LogFormat } from './logger.js';
import { formatGoDuration } from './summary.js';
import { checkUpstreamProxy, HTTP_PROXY_UDP_WARNING } from './upstream-proxy.js';
import { parseAccessRuleFlags, parseDenyTargetFlags, readApiKeyFile } from './access-flags.js';
import {
  type Env,
  envValue,
  flagInteger,
  parseGoDuration,
  parseGraceSeconds,
  parsePort,
  parsePositiveInteger,
  pickBool,
  pickInteger,
  pickString,
} from './values.js';

/** The library's defaults under the flags' names, plus the CLI's own (help shows these). */
export const SERVER_DEFAULTS = {
  wsHost: LIBRARY_DEFAULTS.host,
  wsPort: LIBRARY_DEFAULTS.port,
  socksHost: LIBRARY_DEFAULTS.socksHost,
  /** Port of the reverse token the server creates at start-up (Go `-p`). */
  socksPort: DEFAULT_SOCKS_PORT,
  bufferSize: LIBRARY_DEFAULTS.bufferSize,
  connectorWaitProvider: formatGoDuration(LIBRARY_DEFAULTS.connectorWaitProviderMs),
  drainTimeout: '30s',
} as const;

/** Option values as commander hands them over: strings for valued flags, undefined when absent. */
export interface RawServerFlags extends OperatorFlags {
  wsHost?: string;
  wsPort?: string;
  token?: string;
  connectorToken?: string;
  connectorAutonomy?: boolean;
  bufferSize?: string;
  reverse?: boolean;
  socksHost?: string;
  socksPort?: string;
  socksUsername?: string;
  socksPassword?: string;
  /** Accepted for Go compatibility; has no effect in Go either. */
  socksNowait?: boolean;
  debug?: number;
  /** `-k` may be given more than once (extra keys authenticate only); a string from older callers. */
  apiKey?: string | string[];
  apiKeyFile?: string;
  accessRule?: string[];
  denyTargets?: string[];
  upstreamProxy?: string;
  fastOpen?: boolean;
  transportGrace?: string;
  /** `--no-http` sets this to false (commander's negated flag). */
  http?: boolean;
  connectorWaitProvider?: string;
  /** Go's direct-connection flags: accepted and ignored (out of scope, CLI.md §2). */
  directEnable?: boolean;
  directRendezvousUdp?: boolean;
  directRendezvousHost?: string;
  directRendezvousPort?: string;
  // linksocks-ts extras
  stateFile?: string;
  auditLog?: string;
  strategy?: string;
  metrics?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  drainTimeout?: string;
  cluster?: string;
  clusterSecret?: string;
  advertiseUrl?: string;
  nodeId?: string;
}

/** What the server creates at start-up (Go `runServer`). */
export type ServerTokenPlan =
  /** `-k`: tokens come from the API only; -t/-r/-c/-a/-p/-n/-w are ignored. */
  | { mode: 'api' }
  | { mode: 'forward'; token?: string }
  | {
      mode: 'reverse';
      token?: string;
      port: number;
      username?: string;
      password?: string;
      /** Connector token to add; undefined → generated. */
      connectorToken?: string;
    }
  | { mode: 'autonomy'; token?: string; port: number; username?: string; password?: string };

export interface ServerCliConfig {
  /** Options for `new LinkSocksServer` (the caller adds the logger). */
  serverOptions: LinkSocksServerOptions;
  plan: ServerTokenPlan;
  /** 0 info, 1 debug, 2+ trace. */
  debug: number;
  /** Lines Go prints on stderr before start-up. */
  warnings: string[];
  /** linksocks-ts extra: serve HTTPS with this PEM certificate/key pair (file paths). */
  tls?: { certFile: string; keyFile: string };
  /** linksocks-ts extra: how long SIGINT/SIGTERM lets open channels finish. */
  drainTimeoutMs: number;
  /** linksocks-ts extra: `text` (Go-like lines) or `json`. */
  logFormat: LogFormat;
  /** linksocks-ts extra: separate listener serving only /metrics. */
  metricsListen?: HostPort;
  /** linksocks-ts extra: provider selection of the start-up reverse token. */
  strategy?: ProviderStrategy;
}

export function parseServerFlags(flags: RawServerFlags, env: Env): ServerCliConfig {
  const host = pickString(flags.wsHost, env, 'LINKSOCKS_WEBSOCKET_HOST') ?? SERVER_DEFAULTS.wsHost;
  const port =
    pickInteger(flags.wsPort, '-P, --ws-port', env, 'LINKSOCKS_WEBSOCKET_PORT', parsePort) ?? SERVER_DEFAULTS.wsPort;
  const socksHost = pickString(flags.socksHost, env, 'LINKSOCKS_SOCKS_HOST') ?? SERVER_DEFAULTS.socksHost;
  const socksPort =
    pickInteger(flags.socksPort, '-p, --socks-port', env, 'LINKSOCKS_SOCKS_PORT', parsePort) ??
    SERVER_DEFAULTS.socksPort;
  const token = nonEmpty(pickString(flags.token, env, 'LINKSOCKS_TOKEN'));
  const connectorToken = nonEmpty(pickString(flags.connectorToken, env, 'LINKSOCKS_CONNECTOR_TOKEN'));
  const username = nonEmpty(pickString(flags.socksUsername, env, 'LINKSOCKS_SOCKS_USERNAME'));
  const password = nonEmpty(pickString(flags.socksPassword, env, 'LINKSOCKS_SOCKS_PASSWORD'));
  const apiKeyFlags = typeof flags.apiKey === 'string' ? [flags.apiKey] : (flags.apiKey ?? []);
  const fileKeys = flags.apiKeyFile !== undefined ? readApiKeyFile(flags.apiKeyFile) : [];
  const allKeys = [...apiKeyFlags, ...fileKeys].filter((key) => key !== '');
  const apiKey = allKeys.length > 0 ? allKeys[0] : nonEmpty(pickString(undefined, env, 'LINKSOCKS_API_KEY'));
  const extraApiKeys = allKeys.slice(1);
  const accessRules = parseAccessRuleFlags(flags.accessRule);
  const denyTargets = parseDenyTargetFlags(flags.denyTargets);
  if (accessRules && apiKey !== undefined) {
    throw new CliError('ERR_CLI_INVALID_FLAG', '--access-rule cannot be used with --api-key: set server-wide rules with PUT /api/config/access');
  }
  const autonomy = pickBool(flags.connectorAutonomy, env, 'LINKSOCKS_CONNECTOR_AUTONOMY');
  const fastOpen = pickBool(flags.fastOpen, env, 'LINKSOCKS_FASTOPEN');
  const upstreamProxy = nonEmpty(pickString(flags.upstreamProxy, env, 'LINKSOCKS_UPSTREAM_PROXY'));
  const bufferSize =
    flagInteger(flags.bufferSize, '-b, --buffer-size', parsePositiveInteger) ?? SERVER_DEFAULTS.bufferSize;
  const connectorWaitProviderMs = parseGoDuration(
    flags.connectorWaitProvider ?? SERVER_DEFAULTS.connectorWaitProvider,
    { kind: 'flag', flag: '--connector-wait-provider' },
  );
  // Validated like Go does even though the direct-connection feature is not implemented.
  flagInteger(flags.directRendezvousPort, '--direct-rendezvous-port', parsePort);

  const warnings: string[] = [];
  if (checkUpstreamProxy(upstreamProxy) === 'http') warnings.push(HTTP_PROXY_UDP_WARNING);

  const serverOptions: LinkSocksServerOptions = {
    host,
    port,
    socksHost,
    bufferSize,
    connectorWaitProviderMs,
  };
  if (apiKey !== undefined) serverOptions.apiKey = apiKey;
  if (extraApiKeys.length > 0) serverOptions.apiKeys = extraApiKeys;
  // As upstream: the role decides, entry rules for the reverse port, dial rules in forward mode.
  if (accessRules) serverOptions.access = flags.reverse === true ? { entry: accessRules } : { dial: accessRules };
  if (denyTargets) serverOptions.denyTargets = denyTargets;
  if (fastOpen) serverOptions.fastOpen = true;
  if (flags.http === false) serverOptions.httpConnect = false;
  if (flags.transportGrace !== undefined) {
    serverOptions.transportGraceMs = parseGraceSeconds(flags.transportGrace, { kind: 'flag', flag: '--transport-grace' });
  }
  if (upstreamProxy !== undefined) serverOptions.upstreamProxy = upstreamProxy;
  const stateFile = nonEmpty(flags.stateFile ?? envValue(env, 'LINKSOCKS_STATE_FILE'));
  if (stateFile !== undefined) serverOptions.stateFile = stateFile;
  const auditLog = nonEmpty(flags.auditLog ?? envValue(env, 'LINKSOCKS_AUDIT_LOG'));
  if (auditLog !== undefined) serverOptions.auditLog = auditLog;
  if (flags.metrics === true) serverOptions.metrics = true;
  const cluster = clusterOptions(flags, env, stateFile);
  if (cluster) serverOptions.cluster = cluster;

  const strategy = nonEmpty(flags.strategy ?? envValue(env, 'LINKSOCKS_STRATEGY'));
  if (strategy !== undefined && !isProviderStrategy(strategy)) {
    throw new CliError('ERR_CLI_INVALID_FLAG', `--${strategyError(strategy)}`);
  }

  const operator = parseOperatorFlags(flags, env);
  const config: ServerCliConfig = {
    serverOptions,
    logFormat: operator.logFormat,
    plan: tokenPlan({ apiKey, reverse: flags.reverse === true, autonomy, token, connectorToken, socksPort, username, password }),
    debug: flags.debug ?? 0,
    warnings,
    drainTimeoutMs: parseGoDuration(flags.drainTimeout ?? SERVER_DEFAULTS.drainTimeout, { kind: 'flag', flag: '--drain-timeout' }),
  };
  const tls = tlsFiles(flags);
  if (tls) config.tls = tls;
  if (operator.metricsListen) config.metricsListen = operator.metricsListen;
  if (strategy !== undefined) config.strategy = strategy;
  return config;
}

/**
 * `--cluster` and its companions. Checked here so that a bad value is a one-line CLI error; the
 * URL appears in messages only with its password replaced. The node id is settled here (random
 * when not given) so that the Configuration summary shows the one the server uses.
 */
function clusterOptions(flags: RawServerFlags, env: Env, stateFile: string | undefined): LinkSocksServerOptions['cluster'] {
  const url = nonEmpty(pickString(flags.cluster, env, 'LINKSOCKS_CLUSTER'));
  const secret = nonEmpty(pickString(flags.clusterSecret, env, 'LINKSOCKS_CLUSTER_SECRET'));
  const advertiseUrl = nonEmpty(pickString(flags.advertiseUrl, env, 'LINKSOCKS_ADVERTISE_URL'));
  const nodeId = nonEmpty(pickString(flags.nodeId, env, 'LINKSOCKS_NODE_ID'));
  if (url === undefined) {
    if (flags.clusterSecret !== undefined || flags.advertiseUrl !== undefined || flags.nodeId !== undefined) {
      throw new CliError('ERR_CLI_INVALID_FLAG', '--cluster-secret, --advertise-url and --node-id need --cluster');
    }
    return undefined;
  }
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = '';
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new CliError('ERR_CLI_INVALID_FLAG', `--cluster must be a redis:// or rediss:// URL, got ${redactRedisUrl(url)}`);
  }
  if (stateFile !== undefined) {
    throw new CliError('ERR_CLI_INVALID_FLAG', '--state-file cannot be used with --cluster: Redis is the token store');
  }
  if (secret === undefined) {
    throw new CliError('ERR_CLI_INVALID_FLAG', '--cluster needs --cluster-secret (or LINKSOCKS_CLUSTER_SECRET), the same on every instance');
  }
  if (advertiseUrl !== undefined && !/^wss?:\/\/[^/]/i.test(advertiseUrl)) {
    throw new CliError('ERR_CLI_INVALID_FLAG', '--advertise-url must be a ws:// or wss:// URL');
  }
  if (nodeId !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(nodeId)) {
    throw new CliError('ERR_CLI_INVALID_FLAG', '--node-id must be 1-64 letters, digits, dots, dashes or underscores');
  }
  return {
    url,
    secret,
    nodeId: nodeId ?? randomBytes(6).toString('hex'),
    ...(advertiseUrl !== undefined && { advertiseUrl }),
  };
}

interface PlanInput {
  apiKey: string | undefined;
  reverse: boolean;
  autonomy: boolean;
  token: string | undefined;
  connectorToken: string | undefined;
  socksPort: number;
  username: string | undefined;
  password: string | undefined;
}

function tokenPlan(p: PlanInput): ServerTokenPlan {
  if (p.apiKey !== undefined) return { mode: 'api' };
  if (!p.reverse) return withDefined({ mode: 'forward' }, { token: p.token });
  const common = { token: p.token, username: p.username, password: p.password };
  if (p.autonomy) return withDefined({ mode: 'autonomy', port: p.socksPort }, common);
  return withDefined({ mode: 'reverse', port: p.socksPort }, { ...common, connectorToken: p.connectorToken });
}

/** Copies only the defined fields (exact optional properties stay absent, not undefined). */
function withDefined<T extends object>(base: T, extra: Record<string, string | undefined>): T {
  const out = { ...base } as Record<string, unknown>;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) out[k] = v;
  return out as T;
}

function tlsFiles(flags: RawServerFlags): { certFile: string; keyFile: string } | undefined {
  const cert = nonEmpty(flags.tlsCert);
  const key = nonEmpty(flags.tlsKey);
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) {
    throw new CliError('ERR_CLI_INVALID_FLAG', '--tls-cert and --tls-key must be given together');
  }
  return { certFile: cert, keyFile: key };
}

/** Go treats an empty string flag like an absent one for tokens, credentials and keys. */
function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

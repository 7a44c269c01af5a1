/**
 * The `Configuration summary` start-up line (beyond Go): the effective settings as key=value
 * fields, so an operator sees what a flag/variable mix resolved to. Secrets are replaced by `***`
 * here, before they reach the logger (whose field redaction is the second line of defence).
 */
import { CLIENT_DEFAULTS } from '../client/options.js';
import { redactRedisUrl } from '../cluster/redis.js';
import { SERVER_DEFAULTS } from '../server/options.js';
import { MASK } from './logger.js';
import { joinHostPort } from './operator-flags.js';
import type { ClientCliConfig } from './parse-client.js';
import type { ServerCliConfig } from './parse-server.js';

export const SUMMARY_MESSAGE = 'Configuration summary';

type Fields = Record<string, string | number | boolean>;

/** A proxy URL with user name and password replaced by `***` (unparsable → fully masked). */
export function maskProxyUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return MASK;
  }
  if (parsed.username !== '') parsed.username = MASK;
  if (parsed.password !== '') parsed.password = MASK;
  // URL escapes the asterisks in the user-info part; show them as typed.
  return parsed.toString().replace(/%2A/gi, '*').replace(/\/$/, '');
}

/** Milliseconds in Go's duration notation (`30s`, `1m30s`, `250ms`, `0s`). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  return `${hours > 0 ? `${hours}h` : ''}${hours > 0 || minutes > 0 ? `${minutes}m` : ''}${seconds}s`;
}

const onOff = (on: boolean): string => (on ? 'on' : 'off');

export function serverSummary(config: ServerCliConfig, listen: { host: string; port: number }): Fields {
  const o = config.serverOptions;
  const plan = config.plan;
  const fields: Fields = {
    listen: joinHostPort(listen.host, listen.port),
    mode: plan.mode,
    tls: onOff(config.tls !== undefined),
    fast_open: onOff(o.fastOpen === true),
    metrics: onOff(o.metrics === true),
    metrics_listen: config.metricsListen ? joinHostPort(config.metricsListen.host, config.metricsListen.port) : 'off',
    drain_timeout: formatGoDuration(config.drainTimeoutMs),
    upstream_proxy: o.upstreamProxy !== undefined ? maskProxyUrl(o.upstreamProxy) : 'none',
    state_file: o.stateFile ?? 'none',
    log_format: config.logFormat,
  };
  // Cluster fields only in cluster mode, so a single-process summary stays as it was.
  if (o.cluster) {
    fields.cluster = o.cluster.url !== undefined ? redactRedisUrl(o.cluster.url) : 'embedded';
    if (o.cluster.nodeId !== undefined) fields.node_id = o.cluster.nodeId;
    if (o.cluster.advertiseUrl !== undefined) fields.advertise_url = o.cluster.advertiseUrl;
    fields.cluster_secret = MASK;
  }
  // Present only when set, like the access fields below.
  if (o.auditLog !== undefined) fields.audit_log = o.auditLog;
  if (config.strategy !== undefined) fields.strategy = config.strategy;
  if (o.apiKey !== undefined) fields.api_key = MASK;
  if (o.apiKeys !== undefined) fields.api_key_count = o.apiKeys.length + 1;
  if (o.access?.entry) fields.entry_rules = o.access.entry.length;
  if (o.access?.dial) fields.dial_rules = o.access.dial.length;
  if (o.denyTargets) fields.deny_targets = o.denyTargets.join(',');
  if (plan.mode === 'reverse' || plan.mode === 'autonomy') {
    fields.socks_host = o.socksHost ?? SERVER_DEFAULTS.socksHost;
    fields.socks_port = plan.mode === 'autonomy' ? -1 : plan.port;
    if (plan.username !== undefined) fields.socks_username = plan.username;
    if (plan.password !== undefined) fields.socks_password = MASK;
  }
  if (plan.mode !== 'api') fields.token = MASK;
  return fields;
}

export function clientSummary(config: ClientCliConfig): Fields {
  const o = config.clientOptions;
  const role = o.reverse ? 'provider' : config.command === 'connector' ? 'connector' : 'forward';
  const fields: Fields = {
    // A failover list shows as its URLs in order, comma-separated; credentials in a URL are masked.
    url: (Array.isArray(o.url) ? o.url : [(o.url as string | undefined) ?? CLIENT_DEFAULTS.url])
      .map((u) => (u.includes('@') ? maskProxyUrl(u) : u))
      .join(','),
    role,
    threads: o.threads ?? CLIENT_DEFAULTS.threads,
    // The CLI reconnects unless -R (the library default is off).
    reconnect: onOff(o.reconnect !== false),
    fast_open: onOff(o.fastOpen === true),
    metrics_listen: config.metricsListen ? joinHostPort(config.metricsListen.host, config.metricsListen.port) : 'off',
    log_format: config.logFormat,
    token: MASK,
  };
  if (!o.reverse) fields.socks_listen = joinHostPort(o.socksHost ?? CLIENT_DEFAULTS.socksHost, o.socksPort ?? CLIENT_DEFAULTS.socksPort);
  if (o.socksUsername !== undefined) fields.socks_username = o.socksUsername;
  if (o.socksPassword !== undefined) fields.socks_password = MASK;
  if (o.upstreamProxy !== undefined) fields.upstream_proxy = maskProxyUrl(o.upstreamProxy);
  if (config.caFile !== undefined) fields.ca = config.caFile;
  if (o.insecure) fields.tls_verify = 'off';
  if (config.addConnectorToken !== undefined) fields.connector_token = MASK;
  // A provider's rules check its dials; a forward client's or connector's, its SOCKS port.
  if (o.accessRules) fields[o.reverse ? 'dial_rules' : 'entry_rules'] = o.accessRules.length;
  if (o.denyTargets) fields.deny_targets = o.denyTargets.join(',');
  return fields;
}

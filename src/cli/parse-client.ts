/**
 * `client`, `provider` and `connector` commands: flags + environment → client options.
 * Pure (no I/O), so tests call it directly. Semantics: ../shared/spec/CLI.md §2, §4.
 */
import { CLIENT_DEFAULTS as LIBRARY_DEFAULTS, type LinkSocksClientOptions } from '../client/options.js';
import { CliError } from './errors.js';
import { parseAccessRuleFlags, parseDenyTargetFlags } from './access-flags.js';
import { type HostPort, type OperatorFlags, parseOperatorFlags } from './operator-flags.js';
import type { LogFormat } from './logger.js';
import { checkUpstreamProxy, HTTP_PROXY_UDP_WARNING } from './upstream-proxy.js';
import {
  type Env,
  envValue,
  flagInteger,
  parseEnum,
  parseGoDuration,
  parseGraceSeconds,
  parsePort,
  parsePositiveInteger,
  pickBool,
  pickInteger,
  pickString,
} from './values.js';

/** The library's defaults the flags show, plus the Go flags' own (help shows these). */
export const CLIENT_DEFAULTS = {
  url: LIBRARY_DEFAULTS.url,
  socksHost: LIBRARY_DEFAULTS.socksHost,
  socksPort: LIBRARY_DEFAULTS.socksPort,
  threads: LIBRARY_DEFAULTS.threads,
  directMode: 'auto',
  directDiscovery: 'stun',
  directHostCandidates: 'auto',
  directOnlyAction: 'exit',
  directUpnpLease: '30m',
} as const;

export type ClientCommand = 'client' | 'provider' | 'connector';

/** Option values as commander hands them over: strings for valued flags, undefined when absent. */
export interface RawClientFlags extends OperatorFlags {
  token?: string;
  /** `-u` is repeatable (failover list); a single string is taken too. */
  url?: string | string[];
  reverse?: boolean;
  connectorToken?: string;
  socksHost?: string;
  socksPort?: string;
  socksUsername?: string;
  socksPassword?: string;
  socksNoWait?: boolean;
  /** Commander turns `-R, --no-reconnect` into `reconnect: false`. */
  reconnect?: boolean;
  retryAuth?: boolean;
  debug?: number;
  threads?: string;
  upstreamProxy?: string;
  fastOpen?: boolean;
  transportGrace?: string;
  /** `--no-http` sets this to false (commander's negated flag). */
  http?: boolean;
  /** Commander turns `-E, --no-env-proxy` into `envProxy: false`. */
  envProxy?: boolean;
  // Go's direct-connection flags: validated, then ignored (out of scope, CLI.md §2).
  directMode?: string;
  directDiscovery?: string;
  directHostCandidates?: string;
  stunServer?: string[];
  accessRule?: string[];
  denyTargets?: string[];
  directOnlyAction?: string;
  directUpnp?: boolean;
  directUpnpLease?: string;
  directUpnpKeep?: boolean;
  directUpnpExternalPort?: string;
  // linksocks-ts extras
  ca?: string;
  insecure?: boolean;
}

export interface ClientCliConfig {
  command: ClientCommand;
  /** Options for `new LinkSocksClient` (the caller adds the logger; `ca` holds a file path, see caFile). */
  clientOptions: LinkSocksClientOptions;
  /** Provider with `-c`: connector token to add once connected (Go: only together with reverse). */
  addConnectorToken?: string;
  /** linksocks-ts extra: PEM file with extra CA certificates for wss://. */
  caFile?: string;
  debug: number;
  warnings: string[];
  /** linksocks-ts extra: `text` (Go-like lines) or `json`. */
  logFormat: LogFormat;
  /** linksocks-ts extra: separate listener serving only /metrics. */
  metricsListen?: HostPort;
}

/** Printed on stderr (and logged) whenever certificate checks are off: easy to forget in production. */
export const INSECURE_WARNING =
  'WARNING: --insecure disables TLS certificate verification for the WebSocket connection; ' +
  'anyone on the path can impersonate the server and read the traffic';

export function parseClientFlags(command: ClientCommand, flags: RawClientFlags, env: Env): ClientCliConfig {
  const reverse = command === 'provider' || flags.reverse === true;
  const token = nonEmpty(pickString(flags.token, env, 'LINKSOCKS_TOKEN'));
  const urls = serverUrls(flags.url, env);
  const url = urls.length === 1 ? urls[0]! : urls;
  const connectorToken = nonEmpty(pickString(flags.connectorToken, env, 'LINKSOCKS_CONNECTOR_TOKEN'));
  const socksHost = pickString(flags.socksHost, env, 'LINKSOCKS_SOCKS_HOST') ?? CLIENT_DEFAULTS.socksHost;
  const socksPort =
    pickInteger(flags.socksPort, '-p, --socks-port', env, 'LINKSOCKS_SOCKS_PORT', parsePort) ??
    CLIENT_DEFAULTS.socksPort;
  const username = nonEmpty(pickString(flags.socksUsername, env, 'LINKSOCKS_SOCKS_USERNAME'));
  const password = nonEmpty(pickString(flags.socksPassword, env, 'LINKSOCKS_SOCKS_PASSWORD'));
  const upstreamProxy = nonEmpty(pickString(flags.upstreamProxy, env, 'LINKSOCKS_UPSTREAM_PROXY'));
  const fastOpen = pickBool(flags.fastOpen, env, 'LINKSOCKS_FASTOPEN');
  const retryAuth = pickBool(flags.retryAuth, env, 'LINKSOCKS_RETRY_AUTH');
  const threads = flagInteger(flags.threads, '-T, --threads', parsePositiveInteger) ?? CLIENT_DEFAULTS.threads;
  checkDirectFlags(flags);

  const warnings: string[] = [];
  if (checkUpstreamProxy(upstreamProxy) === 'http') warnings.push(HTTP_PROXY_UDP_WARNING);
  if (flags.insecure === true) warnings.push(INSECURE_WARNING);
  const operator = parseOperatorFlags(flags, env);

  const clientOptions: LinkSocksClientOptions = {
    url,
    reverse,
    socksHost,
    socksPort,
    socksNoWait: flags.socksNoWait === true,
    // The CLI reconnects unless told not to (the library default is false).
    reconnect: flags.reconnect !== false,
    retryAuth,
    threads,
    fastOpen,
    noEnvProxy: flags.envProxy === false,
  };
  if (token !== undefined) clientOptions.token = token;
  if (username !== undefined) clientOptions.socksUsername = username;
  if (password !== undefined) clientOptions.socksPassword = password;
  if (upstreamProxy !== undefined) clientOptions.upstreamProxy = upstreamProxy;
  if (flags.insecure === true) clientOptions.insecure = true;
  if (flags.http === false) clientOptions.httpConnect = false;
  const accessRules = parseAccessRuleFlags(flags.accessRule);
  if (accessRules) clientOptions.accessRules = accessRules;
  const denyTargets = parseDenyTargetFlags(flags.denyTargets);
  if (denyTargets) clientOptions.denyTargets = denyTargets;
  if (flags.transportGrace !== undefined) {
    clientOptions.transportGraceMs = parseGraceSeconds(flags.transportGrace, { kind: 'flag', flag: '--transport-grace' });
  }

  const config: ClientCliConfig = { command, clientOptions, debug: flags.debug ?? 0, warnings, logFormat: operator.logFormat };
  if (operator.metricsListen) config.metricsListen = operator.metricsListen;
  if (reverse && connectorToken !== undefined) config.addConnectorToken = connectorToken;
  const caFile = nonEmpty(flags.ca);
  if (caFile !== undefined) config.caFile = caFile;
  return config;
}

/** Go rejects bad direct-mode values even when relaying only; direct connections are not implemented here. */
function checkDirectFlags(flags: RawClientFlags): void {
  const mode = parseEnum('direct-mode', flags.directMode ?? CLIENT_DEFAULTS.directMode, [
    'relay-only',
    'direct-only',
    'auto',
  ] as const);
  if (mode === 'direct-only') {
    throw new CliError('ERR_CLI_UNSUPPORTED', 'direct-mode "direct-only" is not supported by linksocks-ts (relay only)');
  }
  parseEnum('direct-discovery', flags.directDiscovery ?? CLIENT_DEFAULTS.directDiscovery, ['stun', 'server', 'auto'] as const);
  parseEnum('direct-host-candidates', flags.directHostCandidates ?? CLIENT_DEFAULTS.directHostCandidates, [
    'auto',
    'never',
    'always',
  ] as const);
  parseEnum('direct-only-action', flags.directOnlyAction ?? CLIENT_DEFAULTS.directOnlyAction, ['exit', 'refuse'] as const);
  parseGoDuration(flags.directUpnpLease ?? CLIENT_DEFAULTS.directUpnpLease, { kind: 'flag', flag: '--direct-upnp-lease' });
  flagInteger(flags.directUpnpExternalPort, '--direct-upnp-external-port', parsePort);
}

/**
 * `-u` given once or more (in that order), else LINKSOCKS_URL split at commas and white space
 * (so a URL with a comma in it must be given with -u), else the default. More than one URL makes a
 * failover list; the library checks each one.
 */
export function serverUrls(flag: string | string[] | undefined, env: Env): string[] {
  const given = (flag === undefined ? [] : Array.isArray(flag) ? flag : [flag]).filter((u) => u !== '');
  if (given.length > 0) return given;
  const fromEnv = (envValue(env, 'LINKSOCKS_URL') ?? '').split(/[\s,]+/).filter((u) => u !== '');
  return fromEnv.length > 0 ? fromEnv : [CLIENT_DEFAULTS.url];
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

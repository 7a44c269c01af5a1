/**
 * LinkSocksClient's options: what a caller may pass, their defaults, and the one function that
 * turns the former into a complete, checked, frozen object (the client reads nothing else).
 */
import { DEFAULT_TRANSPORT_GRACE_MS } from '../relay/grace.js';
import {
  DEFAULT_BUFFER_SIZE,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_SERVER_PORT,
  DEFAULT_SOCKS_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_SOCKS_PORT,
  LOOPBACK_HOST,
} from '../defaults.js';
import { InvalidArgumentError } from '../errors.js';
import type { Logger } from '../log.js';
import { DEFAULT_MAX_CHANNELS_PER_LINK } from '../relay/limits.js';
import * as check from '../util/option-checks.js';
import { normaliseServerUrl } from './url.js';
import { checkAccessRuleList, checkTargetPresets, type AccessRuleInput, type TargetPreset } from '../access/index.js';

export interface LinkSocksClientOptions {
  /** Token; empty means `anonymous`, as the Go client does. */
  token?: string;
  /**
   * Server URL, normalised as Go does (SESSION.md §2); default ws://localhost:8765. [linksocks-ts] A
   * list (at most MAX_SERVER_URLS) is a failover list: each WebSocket connects to the first, and
   * every reconnect after a failed attempt or a lost link goes to the next one, round the list.
   */
  url?: string | readonly string[];
  /** Provider (reverse) role. */
  reverse?: boolean;
  /** Provider only: connector token to add after start-up (autonomy mode). */
  connectorToken?: string;
  /** Local SOCKS5 listener (forward/connector); default 127.0.0.1:9870; port 0 picks one. */
  socksHost?: string;
  socksPort?: number;
  socksUsername?: string;
  socksPassword?: string;
  /** SOCKS5 handshake deadline; default 10 s. */
  socksHandshakeTimeoutMs?: number;
  /** Channels the provider serves on one WebSocket at most; default 16384. */
  maxChannelsPerLink?: number;
  /** The SOCKS5 port also serves HTTP CONNECT (beyond Go); default true. */
  httpConnect?: boolean;
  /** Open the SOCKS5 listener before the WebSocket is up (Go `-i`). */
  socksNoWait?: boolean;
  /** Reconnect with backoff when the WebSocket drops; library default false, CLI default true. */
  reconnect?: boolean;
  /** Retry after an authentication failure instead of stopping. */
  retryAuth?: boolean;
  /** Number of WebSocket connections; default 1. */
  threads?: number;
  /** Provider only: proxy for target dials. */
  upstreamProxy?: string;
  /** Reply to SOCKS clients before the dialing side confirms (Go `-f`). */
  fastOpen?: boolean;
  /**
   * Transport grace: how long channels survive the loss of their WebSocket, waiting to be resumed on
   * a new one (only with linksocks-ts peers that announce it); default 30 s as upstream, 0 = tear
   * down at once.
   */
  transportGraceMs?: number;
  /** Ignore HTTP(S)_PROXY for the WebSocket dial. */
  noEnvProxy?: boolean;
  /** Extra CA certificate(s) (PEM) for wss://. */
  ca?: string | Buffer;
  /** Skip TLS verification for wss:// (unsafe). */
  insecure?: boolean;
  /** Largest Data payload this side sends; default 1 MiB. */
  bufferSize?: number;
  connectTimeoutMs?: number;
  /** How long a SOCKS request waits for an authenticated WebSocket before 0x03; default 10 s (Go). */
  linkWaitMs?: number;
  /** First reconnect delay; default 1 s (multiplied by 1.5 per failed attempt). */
  reconnectDelayMs?: number;
  /** Cap of the reconnect delay; default 10 min. */
  maxReconnectDelayMs?: number;
  /**
   * Destination rules (access control); the role decides where they apply: a provider checks the
   * targets the server asks it to dial (refusal: failed ConnectResponse `destination H:P blocked
   * by access control`), a forward client or connector checks requests on its SOCKS/HTTP port
   * (refusal: SOCKS reply 0x02, HTTP 403). Malformed: AccessRuleError from the constructor.
   */
  accessRules?: readonly AccessRuleInput[];
  /** Destinations refused whatever the rules, same place as `accessRules`: presets `local`, `private`. */
  denyTargets?: readonly TargetPreset[];
  logger?: Logger;
}

/** Options without a default: absent means "not used". */
type Unset = 'connectorToken' | 'socksUsername' | 'socksPassword' | 'upstreamProxy' | 'ca' | 'accessRules';

/** The options as the client uses them: every default filled in, checked, frozen. */
export type ResolvedClientOptions = Readonly<
  Required<Omit<LinkSocksClientOptions, Unset | 'url'>> &
    Pick<LinkSocksClientOptions, Unset> & {
      /** The first server URL (the one every connection tries first). */
      url: string;
      /** Every server URL in failover order; one or more, frozen. */
      urls: readonly string[];
    }
>;

/** Longest failover list `url` takes (a list is read once per reconnect round; keep it small). */
export const MAX_SERVER_URLS = 32;

/** The documented defaults (the CLI shows and uses the same values, except `reconnect`). */
export const CLIENT_DEFAULTS = Object.freeze({
  /** Go's client uses `anonymous` when no token is given. */
  token: 'anonymous',
  url: `ws://localhost:${DEFAULT_SERVER_PORT}`,
  reverse: false,
  socksHost: LOOPBACK_HOST,
  socksPort: DEFAULT_SOCKS_PORT,
  socksHandshakeTimeoutMs: DEFAULT_SOCKS_HANDSHAKE_TIMEOUT_MS,
  maxChannelsPerLink: DEFAULT_MAX_CHANNELS_PER_LINK,
  httpConnect: true,
  socksNoWait: false,
  reconnect: false,
  retryAuth: false,
  threads: 1,
  fastOpen: false,
  transportGraceMs: DEFAULT_TRANSPORT_GRACE_MS,
  noEnvProxy: false,
  insecure: false,
  bufferSize: DEFAULT_BUFFER_SIZE,
  connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
  linkWaitMs: 10_000,
  reconnectDelayMs: 1000,
  maxReconnectDelayMs: 10 * 60 * 1000,
});

/**
 * Merges the defaults into `input` once and checks every option's type and range; throws
 * InvalidArgumentError naming the first bad option. The result is frozen.
 */
export function resolveClientOptions(input: LinkSocksClientOptions = {}): ResolvedClientOptions {
  const o = check.optionsObject(input) as LinkSocksClientOptions & Record<string, unknown>;
  const d = CLIENT_DEFAULTS;
  const urls = serverUrls(o.url, d.url);
  const resolved: ResolvedClientOptions = {
    // An empty token means `anonymous`, as for the Go client.
    token: check.string('token', o.token, d.token) || d.token,
    url: urls[0]!,
    urls,
    reverse: check.boolean('reverse', o.reverse, d.reverse),
    connectorToken: check.optionalString('connectorToken', o.connectorToken),
    socksHost: check.host('socksHost', o.socksHost, d.socksHost),
    socksPort: check.port('socksPort', o.socksPort, d.socksPort),
    socksUsername: check.optionalString('socksUsername', o.socksUsername),
    socksPassword: check.optionalString('socksPassword', o.socksPassword),
    socksHandshakeTimeoutMs: check.milliseconds('socksHandshakeTimeoutMs', o.socksHandshakeTimeoutMs, d.socksHandshakeTimeoutMs),
    maxChannelsPerLink: check.integer('maxChannelsPerLink', o.maxChannelsPerLink, d.maxChannelsPerLink, 1),
    httpConnect: check.boolean('httpConnect', o.httpConnect, d.httpConnect),
    socksNoWait: check.boolean('socksNoWait', o.socksNoWait, d.socksNoWait),
    reconnect: check.boolean('reconnect', o.reconnect, d.reconnect),
    retryAuth: check.boolean('retryAuth', o.retryAuth, d.retryAuth),
    // Go's -T: a negative count means one per CPU, 0 means 1 (clamped when the client starts).
    threads: check.integer('threads', o.threads, d.threads, Number.MIN_SAFE_INTEGER),
    upstreamProxy: check.optionalString('upstreamProxy', o.upstreamProxy),
    fastOpen: check.boolean('fastOpen', o.fastOpen, d.fastOpen),
    transportGraceMs: check.milliseconds('transportGraceMs', o.transportGraceMs, d.transportGraceMs),
    noEnvProxy: check.boolean('noEnvProxy', o.noEnvProxy, d.noEnvProxy),
    ca: check.optionalPem('ca', o.ca),
    insecure: check.boolean('insecure', o.insecure, d.insecure),
    bufferSize: check.integer('bufferSize', o.bufferSize, d.bufferSize, 1),
    connectTimeoutMs: check.milliseconds('connectTimeoutMs', o.connectTimeoutMs, d.connectTimeoutMs),
    linkWaitMs: check.milliseconds('linkWaitMs', o.linkWaitMs, d.linkWaitMs),
    reconnectDelayMs: check.milliseconds('reconnectDelayMs', o.reconnectDelayMs, d.reconnectDelayMs),
    maxReconnectDelayMs: check.milliseconds('maxReconnectDelayMs', o.maxReconnectDelayMs, d.maxReconnectDelayMs),
    accessRules: checkAccessRuleList('accessRules', o.accessRules),
    denyTargets: checkTargetPresets('denyTargets', o.denyTargets),
    logger: check.logger('logger', o.logger),
  };
  return Object.freeze(resolved);
}

/** `url`: one string or a non-empty list of them, each a URL the client can normalise. */
function serverUrls(value: unknown, fallback: string): readonly string[] {
  let list: readonly unknown[];
  if (Array.isArray(value)) {
    if (value.length === 0) throw new InvalidArgumentError('url', 'must not be an empty list');
    if (value.length > MAX_SERVER_URLS) throw new InvalidArgumentError('url', `takes at most ${MAX_SERVER_URLS} URLs, got ${value.length}`);
    list = value;
  } else {
    list = [value];
  }
  const urls = list.map((item, i) => {
    const name = Array.isArray(value) ? `url[${i}]` : 'url';
    // A hole in a list is a mistake, not a request for the default.
    if (Array.isArray(value) && typeof item !== 'string') throw new InvalidArgumentError(name, `must be a string, got ${item === null ? 'null' : typeof item}`);
    const url = check.host(name, item, fallback);
    try {
      normaliseServerUrl(url);
    } catch (err) {
      throw new InvalidArgumentError(name, `${JSON.stringify(url)} is not a valid URL (${(err as Error).message})`);
    }
    return url;
  });
  return Object.freeze(urls);
}

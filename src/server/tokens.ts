/**
 * What a token is to the server: its role, the record the token store keeps for it, and the
 * public shapes of the token methods (options of a reverse token, `/api/status`).
 */

import type { AccessRuleInput, AccessRuleJson, AccessRules } from '../access/index.js';

export type { AccessRuleInput } from '../access/index.js';
import type { ProviderStrategy } from './provider-strategy.js';
import type { TokenPolicy } from './token-policy.js';
import type { TokenPolicyChange, TokenPolicyJson } from './token-policy-input.js';

/** What a token (and the WebSocket authenticated with it) is: MODES.md §2–§5. */
export type Role = 'forward' | 'reverse' | 'connector';

interface TokenRecordBase {
  readonly token: string;
  /** Lower-case hex SHA-256 of the token's UTF-8 bytes (what URL-query authentication sends). */
  readonly hash: string;
  /**
   * Destination rules of the token (access control), absent when it has none: checked for a
   * forward token's Connects, a connector token's Connects, and requests on a reverse token's port
   * (where they replace the server-wide entry rules).
   */
  readonly rules?: AccessRules;
  /** [linksocks-ts] Limits, quota, expiry, disabled; absent when the token has none. */
  readonly policy?: TokenPolicy;
}

export interface ForwardTokenRecord extends TokenRecordBase {
  readonly kind: 'forward';
}

interface ReverseTokenFields extends TokenRecordBase {
  readonly kind: 'reverse';
  /** SOCKS5 port, -1 for autonomy and internal tokens. */
  readonly port: number;
  readonly username?: string;
  readonly password?: string;
  readonly allowManageConnector?: boolean;
  /** [linksocks-ts] How a provider is chosen per channel; absent: round robin. */
  readonly strategy?: ProviderStrategy;
}

/** A reverse or autonomy token added by an operator (or loaded from the state file). */
export interface PlainReverseTokenRecord extends ReverseTokenFields {
  readonly internal?: false;
}

/**
 * Autonomy internal token (MODES.md §5.2): a reverse token with port -1 created for a provider
 * connection. Never persisted and never reachable through getByHash.
 */
export interface InternalTokenRecord extends ReverseTokenFields {
  readonly internal: true;
  /** The autonomy token it belongs to. */
  readonly parentToken: string;
}

export type ReverseTokenRecord = PlainReverseTokenRecord | InternalTokenRecord;

export interface ConnectorTokenRecord extends TokenRecordBase {
  readonly kind: 'connector';
  /** The reverse (or internal) token it maps to. */
  readonly reverseToken: string;
}

export type TokenRecord = ForwardTokenRecord | ReverseTokenRecord | ConnectorTokenRecord;

export interface ReverseTokenOptions {
  /** Empty or absent: a 16-hex-digit token is generated. */
  token?: string;
  /** SOCKS5 port; 0 or absent: taken from the pool. Ignored with allowManageConnector. */
  port?: number;
  username?: string;
  password?: string;
  /** Autonomy mode: no SOCKS port (reported as -1); providers manage their own connector tokens. */
  allowManageConnector?: boolean;
  /** Entry rules of the token's SOCKS port, replacing the server-wide entry rules there. */
  rules?: readonly AccessRuleInput[];
  /** [linksocks-ts] Provider selection: round-robin (default), least-channels, random, sticky. */
  strategy?: ProviderStrategy;
  /** [linksocks-ts] Limits, quota, expiry (null and absent fields: none); checked before the token is added. */
  policy?: Omit<TokenPolicyChange, 'strategy'>;
}

/**
 * [linksocks-ts] What a token uses now, in `/api/status` (tokens with a policy only). `channels`
 * is counted by the server; the byte and quota fields are filled by the data-path meter when it
 * runs (absent otherwise).
 */
export interface TokenUsage {
  /** Open channels of the token: SOCKS/HTTP requests and UDP associations on a reverse token's port, Connects of its forward or connector clients. */
  channels: number;
  /** Bytes from clients towards targets since the token was added or the server started. */
  bytes_up?: number;
  /** Bytes from targets towards clients. */
  bytes_down?: number;
  /** Bytes counted against quota_bytes in the current period. */
  quota_used?: number;
  /** RFC 3339 time when quota_used resets (tokens with a quota_period). */
  quota_resets_at?: string;
}

/** One `/api/status` entry; key order here is the JSON key order (API.md §5). */
export interface TokenStatus {
  token: string;
  type: Exclude<Role, 'connector'>;
  clients_count: number;
  /** Always present for reverse entries (-1 for autonomy/internal tokens), absent for forward. */
  port?: number;
  /** Absent when the reverse token has no connector tokens. */
  connector_tokens?: string[];
  /** The token's access rules in Go's output form; absent when it has none (beyond Go). */
  rules?: AccessRuleJson[];
  /** [linksocks-ts] Present only when the token was given a strategy. */
  strategy?: string;
  /** [linksocks-ts] Present only when the token has a policy. */
  policy?: TokenPolicyJson;
  /** [linksocks-ts] Present only when the token has a policy. */
  usage?: TokenUsage;
  /** [linksocks-ts] Reverse entries: the connector tokens that have a policy, with their usage. */
  connector_policies?: { token: string; policy: TokenPolicyJson; usage: TokenUsage }[];
}

export interface ServerStatus {
  /** Go-style version string with a leading `v`, e.g. `v1.8.9`. */
  version: string;
  /** Reverse entries first, then forward entries. */
  tokens: TokenStatus[];
}

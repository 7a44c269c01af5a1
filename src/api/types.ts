/**
 * Contract between the HTTP API (src/api) and whatever owns the tokens (the server). The API never
 * imports the server's code, only its token types; the server hands it an object implementing
 * TokenAdmin (../shared/spec/API.md §4–§6).
 */
import type { AccessRuleJson } from '../access/index.js';
import type { AccessRuleInput, ReverseTokenOptions, ServerStatus } from '../server/tokens.js';
import type { TokenPolicy } from '../server/token-policy.js';
import type { TokenPolicyChange } from '../server/token-policy-input.js';
import type { ClientEntry, TokenClientEntry, TokenDetailEntry } from '../server/admin-views.js';
import type { AdminEvent, LiveStats } from '../server/admin-feed.js';

/**
 * What the HTTP API needs from the server. Add methods throw (or reject with) TokenError on
 * refusal; writes may return promises (cluster mode: Redis), which reject with a LinkSocksError
 * coded ERR_CLUSTER_UNAVAILABLE while the cluster store is unreachable (answered 503).
 */
export interface TokenAdmin {
  /** `rules` (access control) are parsed first: a malformed one throws AccessRuleError, nothing is added. */
  addForwardToken(token?: string, rules?: readonly AccessRuleInput[], policy?: Omit<TokenPolicyChange, 'strategy'>): string | Promise<string>;
  addReverseToken(request: ReverseTokenOptions): { token: string; port: number } | Promise<{ token: string; port: number }>;
  addConnectorToken(
    token: string | undefined,
    reverseToken: string,
    rules?: readonly AccessRuleInput[],
    policy?: Omit<TokenPolicyChange, 'strategy'>,
  ): string | Promise<string>;
  /** [linksocks-ts] PATCH /api/token/{token}; throws TokenError (unknown token, bad field), nothing changed then. */
  updateToken?(token: string, change: TokenPolicyChange): TokenPolicy | undefined | Promise<TokenPolicy | undefined>;
  /** Server-wide access rules in Go's output form (GET /api/config/access). */
  accessRules?(): { entry: AccessRuleJson[] | null; dial: AccessRuleJson[] | null };
  /** Absent side unchanged, `[]` clears; throws AccessRuleError (nothing changed) for a bad rule. */
  setAccessRules?(change: { entry?: readonly AccessRuleInput[] | null; dial?: readonly AccessRuleInput[] | null }): void | Promise<void>;
  /** Removes any kind of token with its dependants; false when the token was unknown. */
  removeToken(token: string): boolean | Promise<boolean>;
  status(): ServerStatus;
  /** [linksocks-ts] Connected WebSocket clients, all tokens. */
  clients(): ClientEntry[];
  /** [linksocks-ts] Connected clients of one token; undefined when the token is unknown. */
  tokenClients?(token: string): TokenClientEntry[] | undefined;
  /** [linksocks-ts] Disconnects client `id` of `token` now; false when the token or client is unknown. */
  kickClient?(token: string, id: number): boolean;
  /** [linksocks-ts] Every token (internal autonomy tokens excepted) with kind, port and SOCKS user. */
  tokenDetails(): TokenDetailEntry[];
}

/** [linksocks-ts] Live figures and recent events, kept by the server in memory. */
export interface ServerMonitor {
  /** With `since` (epoch ms), only history samples taken after it. */
  stats(since?: number): LiveStats;
  /** Newest first, at most `limit`. */
  events(limit: number): AdminEvent[];
}

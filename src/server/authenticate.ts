/**
 * The server's authentication decision (SESSION.md §3.3), kept apart from sockets so every rule
 * can be read (and tested) in one place.
 */

import type { Role } from './tokens.js';

/** What the decision needs to know about a plain token. */
export interface TokenRoles {
  isForward(token: string): boolean;
  /** Reverse, autonomy and internal tokens. */
  isReverse(token: string): boolean;
  /** A connector token whose reverse token still exists. */
  isLiveConnector(token: string): boolean;
  /** Plain token for a lower-case SHA-256 hex digest, if any. */
  tokenForHash(hash: string): string | undefined;
}

export type AuthDecision =
  | { ok: true; token: string; role: Role; instance: string }
  | { ok: false; error: string };

export const AUTH_ERROR_FORMAT = 'invalid token format';
export const AUTH_ERROR_TOKEN = 'invalid token';
export const AUTH_ERROR_MESSAGE = 'invalid auth message';

/** The query form of authentication, or undefined when the request carries no `token` parameter. */
export function decideByQuery(query: URLSearchParams, tokens: TokenRoles): AuthDecision | undefined {
  const hash = query.get('token');
  if (!hash) return undefined;
  if (hash.length !== 64) return { ok: false, error: AUTH_ERROR_FORMAT };
  const token = tokens.tokenForHash(hash);
  if (token === undefined) return { ok: false, error: AUTH_ERROR_TOKEN };
  let reverse = tokens.isReverse(token);
  let forward = tokens.isForward(token);
  let connector = tokens.isLiveConnector(token);
  const wanted = query.get('reverse');
  if (wanted) {
    if (wanted === 'true' || wanted === '1') {
      forward = false;
      connector = false;
    } else {
      reverse = false;
    }
  }
  return pickRole(token, { reverse, forward, connector }, query.get('instance') ?? '');
}

/** The Auth-message form: the first WebSocket message carries the plain token. */
export function decideByAuthMessage(
  msg: { token: string; reverse: boolean; instance: string },
  tokens: TokenRoles,
): AuthDecision {
  const reverse = msg.reverse && tokens.isReverse(msg.token);
  const forward = !msg.reverse && tokens.isForward(msg.token);
  const connector = !msg.reverse && tokens.isLiveConnector(msg.token);
  return pickRole(msg.token, { reverse, forward, connector }, msg.instance);
}

function pickRole(
  token: string,
  roles: { reverse: boolean; forward: boolean; connector: boolean },
  instance: string,
): AuthDecision {
  // Go's precedence; tokens are unique across the three kinds, so at most one applies anyway.
  if (roles.reverse) return { ok: true, token, role: 'reverse', instance };
  if (roles.connector) return { ok: true, token, role: 'connector', instance };
  if (roles.forward) return { ok: true, token, role: 'forward', instance };
  return { ok: false, error: AUTH_ERROR_TOKEN };
}

import { sha256Hex } from '../util/secrets.js';

/**
 * The server URL as the Go client normalises it (SESSION.md §2): no scheme → wss://, http(s) →
 * ws(s), an empty or `/` path → `/socket`; anything else kept.
 */
export function normaliseServerUrl(input: string): URL {
  const withScheme = input.includes('://') ? input : `wss://${input}`;
  const url = new URL(withScheme);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/socket';
  return url;
}

/** The URL for log lines: a password in it is replaced (the token is never part of it). */
export function displayUrl(url: URL): string {
  if (url.password === '') return url.href;
  const shown = new URL(url.href);
  shown.password = '***';
  return shown.href;
}

/** Go authenticates by query parameters only when the path is exactly `/socket` (SESSION.md §3.1). */
export function usesQueryAuth(url: URL): boolean {
  return url.pathname === '/socket';
}


/** The query-auth URL: `instance`, `reverse`, `token` set (replacing), keys sorted as Go encodes them. */
export function withAuthQuery(url: URL, token: string, reverse: boolean, instance: string): URL {
  const out = new URL(url.href);
  out.searchParams.set('instance', instance);
  out.searchParams.set('reverse', String(reverse));
  out.searchParams.set('token', sha256Hex(token));
  out.searchParams.sort();
  return out;
}

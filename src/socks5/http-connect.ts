/**
 * HTTP CONNECT on the SOCKS port (Go v1.7.15 serves SOCKS5 only; newer upstream serves HTTP too):
 * pure parsing of the request head and formatting of the few responses the proxy sends itself.
 */
import { isIPv4 } from 'node:net';
import { canonicalHost, parseIPv6, stripBrackets } from './address.js';
import { Socks5Error } from './errors.js';
import type { ParseStep } from './handshake-parser.js';
import { Reply, type AddressType, type RejectReason, type ReplyCode } from './types.js';

/** Upper bound of a request head (request line + headers + blank line). */
export const MAX_HTTP_HEAD_BYTES = 8 * 1024;

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

export interface HttpRequestHead {
  method: string;
  target: string;
  version: string;
  /** Header names lower-cased; repeated headers keep the first value. */
  headers: Map<string, string>;
}

/** `length` of a complete head includes the blank line. */
export type HeadRead = ParseStep<HttpRequestHead>;

/** Could this first byte start an HTTP request line? (Methods are ASCII upper-case tokens.) */
export function looksLikeHttp(firstByte: number): boolean {
  return firstByte >= 0x41 && firstByte <= 0x5a;
}

const CONNECT_PREFIX = Buffer.from('CONNECT ', 'latin1');

/**
 * Is the request at the start of `buf` a CONNECT? Undefined until enough bytes arrived to tell.
 * CONNECT heads are read here; every other method goes to the forwarding proxy (http-proxy.ts).
 */
export function isConnectRequest(buf: Buffer): boolean | undefined {
  const n = Math.min(buf.length, CONNECT_PREFIX.length);
  if (buf.compare(CONNECT_PREFIX, 0, n, 0, n) !== 0) return false;
  return n === CONNECT_PREFIX.length ? true : undefined;
}

/** isConnectRequest as a parser step that consumes nothing (for the handshake's accumulator). */
export function peekConnect(buf: Buffer): ParseStep<boolean> {
  const connect = isConnectRequest(buf);
  return connect === undefined ? { status: 'incomplete' } : { status: 'complete', value: connect, length: 0 };
}

/** Finds and parses the request head at the start of `buf`; bounded by MAX_HTTP_HEAD_BYTES. */
export function readHttpRequestHead(buf: Buffer): HeadRead {
  const end = buf.indexOf(HEAD_END);
  if (end < 0) {
    if (buf.length >= MAX_HTTP_HEAD_BYTES) {
      return { status: 'invalid', error: new Socks5Error('ERR_SOCKS5_HTTP_HEADERS_TOO_LARGE', 'HTTP request head too large') };
    }
    return { status: 'incomplete' };
  }
  const length = end + HEAD_END.length;
  if (length > MAX_HTTP_HEAD_BYTES) {
    return { status: 'invalid', error: new Socks5Error('ERR_SOCKS5_HTTP_HEADERS_TOO_LARGE', 'HTTP request head too large') };
  }
  const lines = buf.toString('latin1', 0, end).split('\r\n');
  const match = /^([A-Z]+) (\S+) (HTTP\/1\.[01])$/.exec(lines[0] ?? '');
  if (match === null) {
    return { status: 'invalid', error: new Socks5Error('ERR_SOCKS5_HTTP_MALFORMED', 'malformed HTTP request line') };
  }
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) {
      return { status: 'invalid', error: new Socks5Error('ERR_SOCKS5_HTTP_MALFORMED', 'malformed HTTP header line') };
    }
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return { status: 'complete', value: { method: match[1]!, target: match[2]!, version: match[3]!, headers }, length };
}

export interface ConnectTarget {
  host: string;
  port: number;
  addressType: AddressType;
}

/**
 * `host:port` or `[v6]:port` (the authority form CONNECT uses) → target, or null when malformed.
 * IPv6 literals come back in RFC 5952 form (IPv4-mapped ones as dotted IPv4), like the SOCKS path.
 */
export function parseConnectAuthority(target: string): ConnectTarget | null {
  const colon = target.lastIndexOf(':');
  if (colon <= 0) return null;
  const portText = target.slice(colon + 1);
  if (!/^[0-9]{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 0xffff) return null;
  const rawHost = target.slice(0, colon);
  if (rawHost.startsWith('[')) {
    if (!rawHost.endsWith(']') || parseIPv6(stripBrackets(rawHost)) === null) return null;
    const host = canonicalHost(rawHost);
    return { host, port, addressType: isIPv4(host) ? 'ipv4' : 'ipv6' };
  }
  // A bare name or IPv4 literal; reject anything that cannot be a host (spaces, '@', '/', ':').
  if (!/^[A-Za-z0-9._-]{1,255}$/.test(rawHost)) return null;
  return { host: rawHost, port, addressType: isIPv4(rawHost) ? 'ipv4' : 'domain' };
}

/** Credentials of a `Proxy-Authorization: Basic …` header, or null when absent or not Basic. */
export function parseProxyAuthorization(value: string | undefined): { username: Buffer; password: Buffer } | null {
  if (value === undefined) return null;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(value);
  if (match === null) return null;
  const decoded = Buffer.from(match[1]!, 'base64');
  const colon = decoded.indexOf(0x3a);
  if (colon < 0) return null;
  return { username: decoded.subarray(0, colon), password: decoded.subarray(colon + 1) };
}

export const HTTP_CONNECT_ESTABLISHED = Buffer.from('HTTP/1.1 200 Connection established\r\n\r\n', 'latin1');

/** A complete, closing HTTP/1.1 response with a short text body (`explanation` on a second line). */
export function formatHttpResponse(status: number, reason: string, extraHeaders: readonly string[] = [], explanation?: string): Buffer {
  const body = explanation === undefined ? `${status} ${reason}\n` : `${status} ${reason}\n${explanation}\n`;
  const lines = [
    `HTTP/1.1 ${status} ${reason}`,
    ...extraHeaders,
    'Content-Type: text/plain',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/**
 * The HTTP answer that tells a proxy client the same thing as a SOCKS5 reply code, with upstream
 * LinkSocks's texts: blocked → 403, no backend (no link or provider) → 503, any failure to reach
 * the target → 502.
 */
export function httpResponseForReply(code: ReplyCode, reason?: RejectReason): Buffer {
  if (reason === 'limit') return formatHttpResponse(429, 'Too Many Requests', [], 'Too many connections');
  switch (code) {
    case Reply.NotAllowed:
      return formatHttpResponse(403, 'Forbidden', [], 'Destination blocked by access control');
    case Reply.NetworkUnreachable:
      return formatHttpResponse(503, 'Service Unavailable', [], 'No backend available');
    case Reply.CommandNotSupported:
    case Reply.AddressTypeNotSupported:
      return formatHttpResponse(400, 'Bad Request');
    default:
      return formatHttpResponse(502, 'Bad Gateway', [], 'Connection failed');
  }
}

export const HTTP_PROXY_AUTH_REQUIRED = formatHttpResponse(
  407,
  'Proxy Authentication Required',
  ['Proxy-Authenticate: Basic realm="LinkSocks"'],
  'Proxy authentication required',
);

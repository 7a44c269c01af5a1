/**
 * Pure parsing for the forwarding HTTP proxy on the SOCKS port: request and response heads, the
 * absolute-form URL, hop-by-hop header removal and message framing (RFC 9110 / RFC 9112).
 *
 * Strict on purpose, because a proxy that reads a message boundary differently from the origin
 * lets a client smuggle a second request past it: bare LF (or a bare CR) where CRLF is required,
 * obs-fold continuation lines, whitespace before a header's colon, Content-Length together with
 * Transfer-Encoding, repeated Content-Length, and any transfer coding other than plain `chunked`
 * are all refused. No sockets here.
 */
import { isIPv4 } from 'node:net';
import { canonicalHost, parseIPv6, stripBrackets } from './address.js';
import type { AddressType } from './types.js';

/** Upper bound of a request or response head (start line + header lines + blank line). */
export const MAX_PROXY_HEAD_BYTES = 32 * 1024;
/** Upper bound of header lines in one head. */
export const MAX_HEADER_LINES = 128;

export type HeadProblem = 'malformed' | 'too-large';

export type HeadScan =
  | { status: 'incomplete' }
  | { status: 'invalid'; problem: HeadProblem; reason: string }
  /** `start`: bytes of leading empty lines skipped; `length`: the whole head incl. its blank line. */
  | { status: 'complete'; start: number; length: number; lines: string[] };

export interface HeaderField {
  /** As sent (for forwarding). */
  name: string;
  /** Lower-cased, for lookups. */
  key: string;
  value: string;
}

export interface RequestHead {
  method: string;
  target: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: 0 | 1;
  headers: HeaderField[];
}

export interface ResponseHead {
  status: number;
  reason: string;
  minor: 0 | 1;
  headers: HeaderField[];
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Field values: visible ASCII, obs-text, SP and HTAB; no other control characters. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e]+) HTTP\/1\.([01])$/;
const STATUS_LINE = /^HTTP\/1\.([01]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?$/;

const CR = 0x0d;
const LF = 0x0a;

/**
 * Finds the end of the head at the start of `buf` (after at most a few leading empty lines, which
 * RFC 9112 §2.2 lets a server skip) and splits it into lines. Every line break must be CRLF.
 */
export function scanHead(buf: Buffer, maxBytes = MAX_PROXY_HEAD_BYTES): HeadScan {
  let start = 0;
  while (start + 1 < buf.length && buf[start] === CR && buf[start + 1] === LF) start += 2;
  if (start > 8) return { status: 'invalid', problem: 'malformed', reason: 'too many empty lines before the request' };
  let from = start;
  let end = -1;
  for (;;) {
    const lf = buf.indexOf(LF, from);
    if (lf < 0 || lf - start >= maxBytes) break;
    if (lf === start || buf[lf - 1] !== CR) return { status: 'invalid', problem: 'malformed', reason: 'bare LF in head' };
    if (lf + 1 >= buf.length) break;
    if (buf[lf + 1] === CR) {
      if (lf + 2 >= buf.length) break;
      if (buf[lf + 2] !== LF) return { status: 'invalid', problem: 'malformed', reason: 'bare CR in head' };
      end = lf + 3;
      break;
    }
    from = lf + 1;
  }
  if (end < 0) {
    if (buf.length - start >= maxBytes) return { status: 'invalid', problem: 'too-large', reason: `head larger than ${maxBytes} bytes` };
    return { status: 'incomplete' };
  }
  if (end - start > maxBytes) return { status: 'invalid', problem: 'too-large', reason: `head larger than ${maxBytes} bytes` };
  const text = buf.toString('latin1', start, end - 4);
  const lines = text.split('\r\n');
  // Every CRLF was split off above, so a CR left in a line is a bare one.
  if (lines.some((line) => line.includes('\r'))) return { status: 'invalid', problem: 'malformed', reason: 'bare CR in head' };
  if (lines.length - 1 > MAX_HEADER_LINES) return { status: 'invalid', problem: 'too-large', reason: `more than ${MAX_HEADER_LINES} header lines` };
  return { status: 'complete', start, length: end - start, lines };
}

function parseFields(lines: readonly string[]): HeaderField[] | string {
  const headers: HeaderField[] = [];
  for (const line of lines) {
    if (line.startsWith(' ') || line.startsWith('\t')) return 'obs-fold continuation line';
    const colon = line.indexOf(':');
    if (colon <= 0) return 'header line without a name';
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) return `invalid header name ${JSON.stringify(name)}`;
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!FIELD_VALUE.test(value)) return `invalid characters in header ${name}`;
    headers.push({ name, key: name.toLowerCase(), value });
  }
  return headers;
}

export function parseRequestHead(lines: readonly string[]): RequestHead | string {
  const match = REQUEST_LINE.exec(lines[0] ?? '');
  if (match === null) return 'malformed request line';
  const headers = parseFields(lines.slice(1));
  if (typeof headers === 'string') return headers;
  return { method: match[1]!, target: match[2]!, minor: match[3] === '0' ? 0 : 1, headers };
}

export function parseResponseHead(lines: readonly string[]): ResponseHead | string {
  const match = STATUS_LINE.exec(lines[0] ?? '');
  if (match === null) return 'malformed status line';
  const headers = parseFields(lines.slice(1));
  if (typeof headers === 'string') return headers;
  return { status: Number(match[2]), reason: match[3] ?? '', minor: match[1] === '0' ? 0 : 1, headers };
}

/** Every value of header `key` (lower-case), in order. */
export function headerValues(headers: readonly HeaderField[], key: string): string[] {
  return headers.filter((h) => h.key === key).map((h) => h.value);
}

/** The comma-separated tokens of all `key` headers, lower-cased, empty ones dropped. */
export function headerTokens(headers: readonly HeaderField[], key: string): string[] {
  return headerValues(headers, key)
    .flatMap((v) => v.split(','))
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
}

/** How a message body is delimited. */
export type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

/**
 * Framing of a request body (RFC 9112 §6.3), refusing everything a downstream parser could read
 * differently: Content-Length with Transfer-Encoding, more than one Content-Length (even equal
 * ones), codings other than a single `chunked`, and Transfer-Encoding on HTTP/1.0.
 */
export function requestFraming(head: RequestHead): Framing | string {
  const lengths = headerValues(head.headers, 'content-length');
  const codings = headerValues(head.headers, 'transfer-encoding');
  if (codings.length > 0) {
    if (lengths.length > 0) return 'both Content-Length and Transfer-Encoding';
    if (head.minor === 0) return 'Transfer-Encoding in an HTTP/1.0 request';
    if (codings.length !== 1 || codings[0]!.toLowerCase() !== 'chunked') return `unsupported Transfer-Encoding ${JSON.stringify(codings.join(', '))}`;
    return { kind: 'chunked' };
  }
  if (lengths.length > 1) return 'more than one Content-Length';
  if (lengths.length === 1) {
    const length = parseContentLength(lengths[0]!);
    if (length === null) return `invalid Content-Length ${JSON.stringify(lengths[0])}`;
    return length === 0 ? { kind: 'none' } : { kind: 'length', length };
  }
  return { kind: 'none' };
}

/**
 * Framing of a response body (RFC 9112 §6.3). Responses to HEAD, 1xx, 204 and 304 have none.
 * A Content-Length repeated with the same value is accepted (RFC 9110 §8.6), differing ones not.
 */
export function responseFraming(head: ResponseHead, requestMethod: string): Framing | string {
  if (requestMethod === 'HEAD' || head.status < 200 || head.status === 204 || head.status === 304) return { kind: 'none' };
  const codings = headerTokens(head.headers, 'transfer-encoding');
  if (codings.length > 0) {
    if (codings.length !== 1 || codings[0] !== 'chunked') return `unsupported Transfer-Encoding ${JSON.stringify(codings.join(', '))}`;
    return { kind: 'chunked' };
  }
  const lengths = headerTokens(head.headers, 'content-length');
  if (lengths.length > 0) {
    if (lengths.some((l) => l !== lengths[0])) return 'conflicting Content-Length';
    const length = parseContentLength(lengths[0]!);
    if (length === null) return `invalid Content-Length ${JSON.stringify(lengths[0])}`;
    return length === 0 ? { kind: 'none' } : { kind: 'length', length };
  }
  return { kind: 'close' };
}

function parseContentLength(value: string): number | null {
  if (!/^[0-9]{1,15}$/.test(value)) return null;
  return Number(value);
}

/**
 * Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the framing
 * headers the proxy rewrites itself. `upgrade` is dropped because the proxy does not relay
 * protocol switches (WebSockets through a proxy use CONNECT).
 */
const HOP_BY_HOP = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
]);

/** `headers` without hop-by-hop fields, those named by Connection, and the extra `drop` keys. */
export function endToEndHeaders(headers: readonly HeaderField[], drop: readonly string[] = []): HeaderField[] {
  const named = new Set([...headerTokens(headers, 'connection'), ...drop]);
  return headers.filter((h) => !HOP_BY_HOP.has(h.key) && !named.has(h.key));
}

/** Does the client want the connection kept after this exchange? (HTTP/1.0 clients get close.) */
export function clientKeepsAlive(head: RequestHead): boolean {
  if (head.minor === 0) return false;
  return !headerTokens(head.headers, 'connection').includes('close') && !headerTokens(head.headers, 'proxy-connection').includes('close');
}

/** May the origin connection carry another request after this response? */
export function originKeepsAlive(head: ResponseHead): boolean {
  const tokens = headerTokens(head.headers, 'connection');
  if (tokens.includes('close')) return false;
  return head.minor === 1 || tokens.includes('keep-alive');
}

export interface AbsoluteTarget {
  host: string;
  port: number;
  addressType: AddressType;
  /** `/path?query` sent to the origin. */
  path: string;
  /** Host header value: host, or host:port when the port is not 80. */
  authority: string;
}

export type TargetProblem = 'not-absolute' | 'https' | 'malformed';

/**
 * `http://host[:port][/path][?query]` → target. Hand-parsed rather than through WHATWG URL, which
 * would silently repair input (backslashes, tabs, percent-encoded hosts) that the origin might read
 * differently. User info in the URL is refused: credentials do not belong in a request target.
 */
export function parseAbsoluteTarget(target: string): AbsoluteTarget | TargetProblem {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(target);
  if (scheme === null) return 'not-absolute';
  const name = scheme[1]!.toLowerCase();
  if (name === 'https') return 'https';
  if (name !== 'http') return 'malformed';
  const rest = target.slice(scheme[0].length);
  const cut = rest.search(/[/?#]/);
  const authority = cut < 0 ? rest : rest.slice(0, cut);
  let path = cut < 0 ? '/' : rest.slice(cut);
  const hash = path.indexOf('#');
  if (hash >= 0) path = path.slice(0, hash);
  if (path.startsWith('?')) path = `/${path}`;
  if (path === '') path = '/';
  // No host at all reads as "not absolute", as upstream answers it.
  if (authority === '') return 'not-absolute';
  if (authority.includes('@')) return 'malformed';
  let hostText: string;
  let portText = '';
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    if (close < 0) return 'malformed';
    hostText = authority.slice(0, close + 1);
    const after = authority.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return 'malformed';
    portText = after.slice(1);
    if (parseIPv6(stripBrackets(hostText)) === null) return 'malformed';
  } else {
    const colon = authority.lastIndexOf(':');
    hostText = colon < 0 ? authority : authority.slice(0, colon);
    portText = colon < 0 ? '' : authority.slice(colon + 1);
    if (!/^[A-Za-z0-9._-]{1,253}$/.test(hostText)) return 'malformed';
  }
  let port = 80;
  if (portText !== '') {
    if (!/^[0-9]{1,5}$/.test(portText)) return 'malformed';
    port = Number(portText);
    if (port < 1 || port > 0xffff) return 'malformed';
  }
  const host = hostText.startsWith('[') ? canonicalHost(hostText) : hostText.toLowerCase();
  const addressType: AddressType = isIPv4(host) ? 'ipv4' : host.includes(':') ? 'ipv6' : 'domain';
  const hostForHeader = addressType === 'ipv6' ? `[${host}]` : host;
  return { host, port, addressType, path, authority: port === 80 ? hostForHeader : `${hostForHeader}:${port}` };
}

/** Serialises a head: start line, fields, blank line. */
export function formatHead(startLine: string, headers: readonly (HeaderField | [string, string])[]): Buffer {
  let text = `${startLine}\r\n`;
  for (const h of headers) text += Array.isArray(h) ? `${h[0]}: ${h[1]}\r\n` : `${h.name}: ${h.value}\r\n`;
  return Buffer.from(`${text}\r\n`, 'latin1');
}

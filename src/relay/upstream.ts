/**
 * Outbound TCP dialing through an optional upstream proxy (../shared/spec/MODES.md §8.3–8.5).
 *
 * This module dials TCP. UDP uses a SOCKS5 upstream through its own UDP ASSOCIATE
 * (udp-dialing-side.ts; Go sends UDP directly, §8.6) and goes direct with an HTTP one. The error texts
 * follow Go's wrapping (`connect to proxy error: …`, `socks5 handshake error: …`,
 * `socks5 connect error: …`, `HTTP CONNECT failed: …`) because they end up in ConnectResponse
 * messages that Go peers show to users.
 *
 * Deliberate differences from Go, all invisible on the wire:
 * * HTTP CONNECT success needs a 2xx status code in the status line (Go accepts any response
 *   containing `200` anywhere, e.g. in a header of a 407).
 * * The HTTP response header block is read up to its terminator (bounded to 8 KiB) instead of one
 *   read of 1024 bytes, and target bytes that arrived behind it are kept, not discarded.
 * * The whole proxy exchange is bounded by the dial timeout (Go bounds only the TCP connect).
 */
import type { Socket } from 'node:net';
import { LinkSocksError } from '../errors.js';
import { socks5Connect } from '../socks5/client.js';
import { Socks5Error } from '../socks5/errors.js';
import type { TcpDialer } from './dialing-side.js';
import { DialError, dialTcp, goDialError, joinHostPort } from './dial.js';

export type UpstreamProxyKind = 'socks5' | 'http';

export interface UpstreamProxy {
  kind: UpstreamProxyKind;
  host: string;
  port: number;
  /** Present only when both user name and password are non-empty (Go uses them only then). */
  credentials?: { username: string; password: string };
}

export const DEFAULT_SOCKS5_PROXY_PORT = 1080;
export const DEFAULT_HTTP_PROXY_PORT = 8080;
/** Largest HTTP CONNECT response header block accepted from a proxy. */
export const MAX_HTTP_CONNECT_HEADER_BYTES = 8 * 1024;

export type UpstreamErrorCode =
  | 'ERR_UPSTREAM_URL' // the proxy URL cannot be parsed
  | 'ERR_UPSTREAM_SCHEME' // a scheme other than socks5/http/https
  | 'ERR_UPSTREAM_PROXY_CONNECT' // TCP connect to the proxy failed
  | 'ERR_UPSTREAM_SOCKS5_HANDSHAKE'
  | 'ERR_UPSTREAM_SOCKS5_CONNECT'
  | 'ERR_UPSTREAM_HTTP_FAILED' // non-2xx status, malformed or oversized response
  | 'ERR_UPSTREAM_HTTP_READ' // the proxy closed or reset before a complete response
  | 'ERR_UPSTREAM_TIMEOUT';

/** Configuration problems with the proxy URL. */
export class UpstreamProxyError extends LinkSocksError {
  override readonly name = 'UpstreamProxyError';
  declare readonly code: UpstreamErrorCode;

  constructor(code: UpstreamErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** A dial through the proxy failed; the message is the ConnectResponse text. */
export class UpstreamDialError extends LinkSocksError {
  override readonly name = 'UpstreamDialError';
  declare readonly code: UpstreamErrorCode;

  constructor(code: UpstreamErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** Parses `socks5://[user[:pass]@]host[:port]` or `http(s)://…` (HTTPS means CONNECT over plain TCP). */
export function parseUpstreamProxy(value: string): UpstreamProxy {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UpstreamProxyError('ERR_UPSTREAM_URL', `invalid proxy URL: ${JSON.stringify(value)}`);
  }
  const scheme = url.protocol.replace(/:$/, '');
  let kind: UpstreamProxyKind;
  if (scheme === 'socks5') kind = 'socks5';
  else if (scheme === 'http' || scheme === 'https') kind = 'http';
  else throw new UpstreamProxyError('ERR_UPSTREAM_SCHEME', `unsupported proxy scheme: ${scheme} (supported: socks5, http)`);

  // WHATWG URL keeps IPv6 hosts bracketed; the dialer wants the bare literal.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new UpstreamProxyError('ERR_UPSTREAM_URL', `invalid proxy URL: ${JSON.stringify(value)} (no host)`);
  // `new URL` drops a port equal to the scheme's default (80 for http, 443 for https); Go would
  // use it as written. Recover it from the authority text in that case.
  const port = url.port !== '' ? Number(url.port) : (explicitPort(value) ?? (kind === 'socks5' ? DEFAULT_SOCKS5_PROXY_PORT : DEFAULT_HTTP_PROXY_PORT));
  const proxy: UpstreamProxy = { kind, host, port };
  const username = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  if (username !== '' && password !== '') proxy.credentials = { username, password };
  return proxy;
}

/** The port written in the URL's authority, if any (also when it equals the scheme default). */
function explicitPort(value: string): number | undefined {
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(value)?.[1] ?? '';
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const match = /:(\d+)$/.exec(hostPort);
  return match ? Number(match[1]) : undefined;
}

/**
 * Returns the dialer for TCP channels: direct (`dialTcp`) without a proxy, else through it.
 * Sockets are half-open capable, have Nagle off, and are not flowing (the channel resumes them).
 */
export function createTcpDialer(proxy: UpstreamProxy | undefined, timeoutMs: number): TcpDialer {
  if (proxy === undefined) return (host, port) => dialTcp(host, port, timeoutMs);
  if (proxy.kind === 'socks5') return (host, port) => dialViaSocks5(proxy, host, port, timeoutMs);
  return (host, port) => dialViaHttp(proxy, host, port, timeoutMs);
}

async function dialViaSocks5(proxy: UpstreamProxy, host: string, port: number, timeoutMs: number): Promise<Socket> {
  try {
    const { socket, head } = await socks5Connect({
      proxyHost: proxy.host,
      proxyPort: proxy.port,
      username: proxy.credentials?.username,
      password: proxy.credentials?.password,
      targetHost: host,
      targetPort: port,
      timeoutMs,
    });
    if (head.length > 0) socket.unshift(head);
    return socket;
  } catch (err) {
    throw socks5Failure(err, proxy);
  }
}

/** Maps the SOCKS5 client's errors onto Go's wrapped texts. */
function socks5Failure(err: unknown, proxy: UpstreamProxy): UpstreamDialError {
  if (!(err instanceof Socks5Error)) {
    return new UpstreamDialError('ERR_UPSTREAM_SOCKS5_HANDSHAKE', `socks5 handshake error: ${String(err)}`, { cause: err });
  }
  switch (err.code) {
    case 'ERR_SOCKS5_PROXY_CONNECT': {
      const cause = err.cause as NodeJS.ErrnoException | undefined;
      const detail = cause ? goDialError(cause, proxy.host, proxy.port) : err.message;
      return new UpstreamDialError('ERR_UPSTREAM_PROXY_CONNECT', `connect to proxy error: ${detail}`, { cause: err });
    }
    case 'ERR_SOCKS5_TIMEOUT':
      return new UpstreamDialError('ERR_UPSTREAM_TIMEOUT', `socks5 handshake error: ${err.message}`, { cause: err });
    case 'ERR_SOCKS5_CONNECT_FAILED':
      return new UpstreamDialError('ERR_UPSTREAM_SOCKS5_CONNECT', `socks5 connect error: connection failed: ${err.reply ?? 1}`, { cause: err });
    case 'ERR_SOCKS5_INVALID_ARGUMENT':
      return new UpstreamDialError('ERR_UPSTREAM_SOCKS5_CONNECT', `socks5 connect error: ${err.message}`, { cause: err });
    case 'ERR_SOCKS5_AUTH_FAILED':
      return new UpstreamDialError('ERR_UPSTREAM_SOCKS5_HANDSHAKE', 'socks5 handshake error: authentication failed', { cause: err });
    default:
      return new UpstreamDialError('ERR_UPSTREAM_SOCKS5_HANDSHAKE', `socks5 handshake error: ${err.message}`, { cause: err });
  }
}

async function dialViaHttp(proxy: UpstreamProxy, host: string, port: number, timeoutMs: number): Promise<Socket> {
  const started = Date.now();
  let socket: Socket;
  try {
    socket = await dialTcp(proxy.host, proxy.port, timeoutMs);
  } catch (err) {
    const detail = err instanceof DialError ? err.message : String(err);
    throw new UpstreamDialError('ERR_UPSTREAM_PROXY_CONNECT', `connect to proxy error: ${detail}`, { cause: err });
  }
  const remaining = Math.max(1, timeoutMs - (Date.now() - started));
  await httpConnectHandshake(socket, proxy, joinHostPort(host, port), remaining);
  return socket;
}

/** Sends CONNECT and reads the response header block; destroys the socket on failure. */
function httpConnectHandshake(socket: Socket, proxy: UpstreamProxy, target: string, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const timer = setTimeout(
      () => fail(new UpstreamDialError('ERR_UPSTREAM_TIMEOUT', `read CONNECT response error: i/o timeout after ${timeoutMs} ms`)),
      timeoutMs,
    );
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onEnd);
    };
    const fail = (err: UpstreamDialError): void => {
      cleanup();
      socket.on('error', () => undefined);
      socket.destroy();
      reject(err);
    };
    const onEnd = (): void => fail(new UpstreamDialError('ERR_UPSTREAM_HTTP_READ', 'read CONNECT response error: EOF'));
    const onError = (err: Error): void =>
      fail(new UpstreamDialError('ERR_UPSTREAM_HTTP_READ', `read CONNECT response error: ${err.message}`, { cause: err }));
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      received += chunk.length;
      const buffered = chunks.length === 1 ? chunk : Buffer.concat(chunks);
      chunks.length = 0;
      chunks.push(buffered);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) {
        if (received > MAX_HTTP_CONNECT_HEADER_BYTES) {
          fail(new UpstreamDialError('ERR_UPSTREAM_HTTP_FAILED', `HTTP CONNECT failed: ${firstLine(buffered)} (response headers exceed ${MAX_HTTP_CONNECT_HEADER_BYTES} bytes)`));
        }
        return;
      }
      const headerEnd = end + 4;
      if (headerEnd > MAX_HTTP_CONNECT_HEADER_BYTES) {
        fail(new UpstreamDialError('ERR_UPSTREAM_HTTP_FAILED', `HTTP CONNECT failed: ${firstLine(buffered)} (response headers exceed ${MAX_HTTP_CONNECT_HEADER_BYTES} bytes)`));
        return;
      }
      const statusLine = firstLine(buffered);
      if (!isSuccessStatusLine(statusLine)) {
        fail(new UpstreamDialError('ERR_UPSTREAM_HTTP_FAILED', `HTTP CONNECT failed: ${statusLine}`));
        return;
      }
      cleanup();
      // Stop the flow before handing the socket over; target bytes that came with the response
      // go back to the front of the stream so the channel forwards them first.
      socket.pause();
      socket.on('error', () => undefined);
      if (headerEnd < buffered.length) socket.unshift(buffered.subarray(headerEnd));
      resolve();
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    socket.write(connectRequest(proxy, target));
  });
}

function connectRequest(proxy: UpstreamProxy, target: string): string {
  let request = `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n`;
  if (proxy.credentials) {
    const token = Buffer.from(`${proxy.credentials.username}:${proxy.credentials.password}`, 'utf8').toString('base64');
    request += `Proxy-Authorization: Basic ${token}\r\n`;
  }
  return `${request}\r\n`;
}

function firstLine(buf: Buffer): string {
  const end = buf.indexOf('\r\n');
  // latin1: a status line is ASCII; anything else is shown byte for byte, never throws.
  return buf.subarray(0, end < 0 ? Math.min(buf.length, 200) : end).toString('latin1');
}

/** `HTTP/1.x 2xx [reason]`: only the status code decides. */
export function isSuccessStatusLine(line: string): boolean {
  const match = /^HTTP\/\d(?:\.\d)? (\d{3})(?: |$)/.exec(line);
  return match !== null && match[1]!.startsWith('2');
}

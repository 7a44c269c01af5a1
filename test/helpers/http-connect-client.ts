// A raw HTTP proxy client for tests: sends one request head (CONNECT or anything else) and reads
// the response head, so tests can assert status lines curl would hide, and keep the tunnel.
import { execFile } from 'node:child_process';
import net from 'node:net';

import { withTimeout } from './net.js';

export interface HttpProxyResponse {
  /** The status line, e.g. `HTTP/1.1 200 Connection established`. */
  status: string;
  /** Header names lower-cased. */
  headers: Map<string, string>;
  /** Bytes after the head that arrived with it (a short error body, or tunnel data). */
  rest: Buffer;
  /** Open on 2xx (caller destroys it). */
  socket: net.Socket;
}

export interface HttpProxyRequestOptions {
  method?: string;
  /** `user:pass` for Proxy-Authorization: Basic. */
  auth?: string;
  timeoutMs?: number;
}

/** `CONNECT target HTTP/1.1` (or `method target`) to the proxy; resolves with its response head. */
export async function connectHttp(proxyHost: string, proxyPort: number, target: string, options: HttpProxyRequestOptions = {}): Promise<HttpProxyResponse> {
  const socket = net.connect(proxyPort, proxyHost);
  socket.on('error', () => undefined);
  const lines = [`${options.method ?? 'CONNECT'} ${target} HTTP/1.1`, `Host: ${target}`];
  if (options.auth !== undefined) lines.push(`Proxy-Authorization: Basic ${Buffer.from(options.auth).toString('base64')}`);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  try {
    return await withTimeout(readResponseHead(socket), options.timeoutMs ?? 10_000, 'HTTP proxy response');
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

function readResponseHead(socket: net.Socket): Promise<HttpProxyResponse> {
  return new Promise<HttpProxyResponse>((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      // No pause: a paused socket stays paused for the next reader. The caller attaches its
      // reader in this same tick (promise continuation), before any later chunk is emitted.
      cleanup();
      const [status = '', ...headerLines] = buffered.toString('latin1', 0, end).split('\r\n');
      const headers = new Map<string, string>();
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      resolve({ status, headers, rest: buffered.subarray(end + 4), socket });
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`connection closed before a complete response head (${buffered.length} bytes: ${JSON.stringify(buffered.toString('latin1'))})`));
    };
    socket.on('data', onData);
    socket.on('close', onClose);
  });
}

/** The rest of a response body after its head (until EOF), for short error explanations. */
export function readToEnd(response: HttpProxyResponse, timeoutMs = 5000): Promise<string> {
  const { socket } = response;
  const chunks: Buffer[] = [response.rest];
  return withTimeout(
    new Promise<string>((resolve) => {
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.once('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    }),
    timeoutMs,
    'HTTP response body',
  );
}

export interface CurlProxyResult {
  /** curl's exit status (0 = success; 56 = proxy CONNECT refused; 52/56 = connection closed). */
  exitCode: number;
  /** Final HTTP status (of the target, or of the proxy when it answered the request itself). */
  httpCode: number;
  /** Status of the proxy's answer to CONNECT (0 when no CONNECT was sent or answered). */
  connectCode: number;
  body: string;
  stderr: string;
}

/**
 * Runs `curl -x http://127.0.0.1:port url`; `tunnel` adds `--proxytunnel` (CONNECT even for
 * http:// URLs), `auth` is `user:pass` for the proxy. Never rejects on curl's exit status: tests
 * assert on exitCode and the status codes instead.
 */
export function curlViaHttpProxy(
  proxyPort: number,
  url: string,
  options: { tunnel?: boolean; auth?: string; proxyHost?: string; timeoutMs?: number } = {},
): Promise<CurlProxyResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const proxyHost = options.proxyHost ?? '127.0.0.1';
  const proxy = net.isIPv6(proxyHost) ? `http://[${proxyHost}]:${proxyPort}` : `http://${proxyHost}:${proxyPort}`;
  const marker = '\n--curl-codes--';
  const args = ['--silent', '--show-error', '--max-time', String(Math.ceil(timeoutMs / 1000)), '--noproxy', '', '-x', proxy];
  if (options.tunnel) args.push('--proxytunnel');
  if (options.auth !== undefined) args.push('--proxy-user', options.auth);
  args.push('-w', `${marker}%{http_code} %{http_connect}`, url);
  return new Promise<CurlProxyResult>((resolve, reject) => {
    execFile('curl', args, { timeout: timeoutMs + 2000 }, (err, stdout, stderr) => {
      const at = stdout.lastIndexOf(marker);
      if (at < 0) {
        reject(new Error(`curl produced no status line: ${err?.message ?? ''}\n${stderr}`));
        return;
      }
      const [httpCode = '0', connectCode = '0'] = stdout.slice(at + marker.length).trim().split(' ');
      const exitCode = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ exitCode, httpCode: Number(httpCode), connectCode: Number(connectCode), body: stdout.slice(0, at), stderr });
    });
  });
}

// A small HTTP CONNECT proxy standing in for a corporate upstream. Modes: 'ok' dials the target and
// pipes; '407' always demands credentials; 'hang' reads the request and never answers (to exercise
// dial timeouts). With `credentials`, a missing or wrong Proxy-Authorization gets 407 too.
import net from 'node:net';

import { closer, listenLocal, LOCALHOST } from './net.js';

export type HttpProxyMode = 'ok' | '407' | 'hang';

export interface HttpProxyOptions {
  mode?: HttpProxyMode;
  credentials?: { username: string; password: string };
}

export interface HttpConnectProxy {
  readonly host: string;
  readonly port: number;
  /** CONNECT targets (`host:port`) in arrival order, whatever the answer was. */
  readonly targets: readonly string[];
  /** CONNECTs answered with 200 and piped. */
  readonly tunnels: number;
  setMode(mode: HttpProxyMode): void;
  close(): Promise<void>;
}

const PROXY_AUTH_REQUIRED =
  'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n';

export async function startHttpConnectProxy(options: HttpProxyOptions = {}): Promise<HttpConnectProxy> {
  let mode: HttpProxyMode = options.mode ?? 'ok';
  const targets: string[] = [];
  let tunnels = 0;
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  };
  const expectedAuth = options.credentials
    ? `Basic ${Buffer.from(`${options.credentials.username}:${options.credentials.password}`).toString('base64')}`
    : undefined;

  const server = net.createServer((client) => {
    track(client);
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const lines = buffered.toString('latin1', 0, end).split('\r\n');
      const rest = buffered.subarray(end + 4);
      const [method, target = ''] = (lines[0] ?? '').split(' ');
      targets.push(target);
      if (mode === 'hang') return;
      const auth = lines.find((l) => l.toLowerCase().startsWith('proxy-authorization:'))?.slice('proxy-authorization:'.length).trim();
      if (mode === '407' || (expectedAuth !== undefined && auth !== expectedAuth)) {
        client.end(PROXY_AUTH_REQUIRED);
        return;
      }
      if (method !== 'CONNECT') {
        client.end('HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const colon = target.lastIndexOf(':');
      const host = target.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
      const upstream = net.connect({ host, port: Number(target.slice(colon + 1)) });
      track(upstream);
      upstream.once('error', () => client.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n'));
      upstream.once('connect', () => {
        tunnels += 1;
        client.write('HTTP/1.1 200 Connection established\r\n\r\n');
        if (rest.length > 0) upstream.write(rest);
        client.pipe(upstream).pipe(client);
        client.once('close', () => upstream.destroy());
        upstream.once('close', () => client.destroy());
      });
    };
    client.on('data', onData);
  });
  const port = await listenLocal(server);
  return {
    host: LOCALHOST,
    port,
    targets,
    get tunnels() {
      return tunnels;
    },
    setMode(next) {
      mode = next;
    },
    close: closer(server, sockets),
  };
}

// Upstream proxies for TCP dials: URL parsing, SOCKS5 via the project's Socks5Server, and HTTP
// CONNECT via a small in-test proxy whose answers can be scripted.
import net from 'node:net';

import { expect } from 'chai';

import {
  createTcpDialer,
  isSuccessStatusLine,
  parseUpstreamProxy,
  UpstreamDialError,
  UpstreamProxyError,
  type UpstreamProxy,
} from '../../src/relay/upstream.js';
import { Socks5Server } from '../../src/socks5/server.js';
import { Reply, type Socks5Credentials } from '../../src/socks5/types.js';
import { closer, freePort, listenLocal, startEchoServer, type EchoServer } from '../helpers/net.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

/** What the scripted HTTP proxy does once it has read a CONNECT request. */
type HttpProxyMode =
  | { kind: 'tunnel'; response?: string } // answer (default 200), then pipe to the target
  | { kind: 'refuse'; response: string } // answer, then close
  | { kind: 'silent' }; // read the request, never answer

interface HttpProxy {
  port: number;
  /** Request header blocks received, in order. */
  requests: string[];
  close(): Promise<void>;
}

async function startHttpProxy(mode: HttpProxyMode): Promise<HttpProxy> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  // allowHalfOpen: the tunnel passes each direction's end on separately (clients half-close).
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      client.off('data', onData);
      const head = buffered.subarray(0, end).toString('latin1');
      requests.push(head);
      if (mode.kind === 'silent') return;
      if (mode.kind === 'refuse') {
        client.end(mode.response);
        return;
      }
      const [, target = ''] = /^CONNECT (\S+) HTTP\/1\.1/.exec(head) ?? [];
      const sep = target.lastIndexOf(':');
      const upstream = net.connect({ host: target.slice(0, sep), port: Number(target.slice(sep + 1)), allowHalfOpen: true });
      sockets.add(upstream);
      upstream.once('close', () => sockets.delete(upstream));
      upstream.on('error', () => client.destroy());
      upstream.once('connect', () => {
        client.write(mode.response ?? 'HTTP/1.1 200 Connection established\r\n\r\n');
        client.pipe(upstream).pipe(client);
      });
    };
    client.on('data', onData);
  });
  return { port: await listenLocal(server), requests, close: closer(server, sockets) };
}

/** The project's SOCKS5 server acting as an upstream proxy that dials directly. */
async function startSocksUpstream(options: { credentials?: Socks5Credentials; rejectWith?: number } = {}) {
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket): net.Socket => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
    return socket;
  };
  const server = new Socks5Server({ port: 0, credentials: options.credentials }, (req) => {
    track(req.socket);
    if (req.command !== 'connect') {
      req.reject(Reply.CommandNotSupported);
      return;
    }
    if (options.rejectWith !== undefined) {
      req.reject(options.rejectWith as typeof Reply.ConnectionRefused);
      return;
    }
    const upstream = track(net.connect({ host: req.host, port: req.port }));
    upstream.once('error', () => req.reject(Reply.ConnectionRefused));
    upstream.once('connect', () => {
      const client = req.accept();
      if (req.head.length > 0) upstream.write(req.head);
      client.pipe(upstream).pipe(client);
      client.resume();
    });
  });
  const { port } = await server.listen();
  return {
    port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await server.close();
    },
  };
}

/** Writes `data`, half-closes, and resolves with everything read until the peer's end. */
function exchange(socket: net.Socket, data: Buffer): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
    socket.resume();
    socket.end(data);
  });
}

async function dialError(promise: Promise<unknown>): Promise<UpstreamDialError> {
  try {
    const socket = await promise;
    (socket as net.Socket).destroy();
  } catch (err) {
    expect(err).to.be.instanceOf(UpstreamDialError);
    return err as UpstreamDialError;
  }
  throw new Error('expected the dial to fail');
}

describe('relay/upstream', function () {
  checkNoLeaksAfterSuite();
  this.timeout(10_000);

  let echo: EchoServer;
  const cleanups: Array<() => unknown> = [];

  beforeEach(async () => {
    echo = await startEchoServer();
    cleanups.push(() => echo.close());
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  describe('parseUpstreamProxy', () => {
    it('parses socks5 URLs with the default port 1080', () => {
      expect(parseUpstreamProxy('socks5://proxy.example')).to.deep.equal({ kind: 'socks5', host: 'proxy.example', port: 1080 });
      expect(parseUpstreamProxy('socks5://10.0.0.1:9050')).to.deep.equal({ kind: 'socks5', host: '10.0.0.1', port: 9050 });
      expect(parseUpstreamProxy('socks5://[::1]:1081')).to.deep.equal({ kind: 'socks5', host: '::1', port: 1081 });
    });

    it('treats http and https as HTTP CONNECT over TCP with the default port 8080', () => {
      expect(parseUpstreamProxy('http://proxy.example')).to.deep.equal({ kind: 'http', host: 'proxy.example', port: 8080 });
      expect(parseUpstreamProxy('https://proxy.example:3128')).to.deep.equal({ kind: 'http', host: 'proxy.example', port: 3128 });
      // A port equal to the scheme's web default is still the port written.
      expect(parseUpstreamProxy('http://proxy.example:80').port).to.equal(80);
      expect(parseUpstreamProxy('https://proxy.example:443').port).to.equal(443);
    });

    it('uses credentials only when both user and password are non-empty', () => {
      expect(parseUpstreamProxy('socks5://alice:s%40cret@h:1').credentials).to.deep.equal({ username: 'alice', password: 's@cret' });
      expect(parseUpstreamProxy('socks5://alice@h:1').credentials).to.equal(undefined);
      expect(parseUpstreamProxy('http://alice:@h:1').credentials).to.equal(undefined);
      expect(parseUpstreamProxy('http://:pw@h:1').credentials).to.equal(undefined);
    });

    it("rejects other schemes with Go's text", () => {
      for (const [url, scheme] of [
        ['socks4://h:1', 'socks4'],
        ['ftp://h', 'ftp'],
        ['socks5h://h', 'socks5h'],
      ] as const) {
        expect(() => parseUpstreamProxy(url))
          .to.throw(UpstreamProxyError, `unsupported proxy scheme: ${scheme} (supported: socks5, http)`)
          .with.property('code', 'ERR_UPSTREAM_SCHEME');
      }
      expect(() => parseUpstreamProxy('not a url')).to.throw(UpstreamProxyError).with.property('code', 'ERR_UPSTREAM_URL');
    });

    it('accepts only 2xx status lines', () => {
      expect(isSuccessStatusLine('HTTP/1.1 200 Connection established')).to.equal(true);
      expect(isSuccessStatusLine('HTTP/1.0 204')).to.equal(true);
      expect(isSuccessStatusLine('HTTP/1.1 407 Proxy Authentication Required (200)')).to.equal(false);
      expect(isSuccessStatusLine('HTTP/1.1 2000 nope')).to.equal(false);
      expect(isSuccessStatusLine('200 OK')).to.equal(false);
    });
  });

  describe('createTcpDialer', () => {
    it('dials directly without a proxy (half-open capable)', async () => {
      const socket = await createTcpDialer(undefined, 5000)('127.0.0.1', echo.port);
      cleanups.push(() => socket.destroy());
      expect(socket.allowHalfOpen).to.equal(true);
      expect((await exchange(socket, Buffer.from('direct'))).toString()).to.equal('direct');
    });

    it('dials through a SOCKS5 upstream, with credentials', async () => {
      const credentials = { username: 'user', password: 'pass' };
      const proxy = await startSocksUpstream({ credentials });
      cleanups.push(() => proxy.close());
      const upstream: UpstreamProxy = { kind: 'socks5', host: '127.0.0.1', port: proxy.port, credentials };
      const socket = await createTcpDialer(upstream, 5000)('127.0.0.1', echo.port);
      cleanups.push(() => socket.destroy());
      expect(socket.allowHalfOpen).to.equal(true);
      expect((await exchange(socket, Buffer.from('via socks5'))).toString()).to.equal('via socks5');
    });

    it("wraps SOCKS5 failures in Go's texts", async () => {
      const refusing = await startSocksUpstream({ rejectWith: Reply.ConnectionRefused });
      cleanups.push(() => refusing.close());
      const connectErr = await dialError(createTcpDialer({ kind: 'socks5', host: '127.0.0.1', port: refusing.port }, 5000)('127.0.0.1', echo.port));
      expect(connectErr.message).to.equal('socks5 connect error: connection failed: 5');
      expect(connectErr.code).to.equal('ERR_UPSTREAM_SOCKS5_CONNECT');

      const authProxy = await startSocksUpstream({ credentials: { username: 'u', password: 'p' } });
      cleanups.push(() => authProxy.close());
      const badAuth: UpstreamProxy = { kind: 'socks5', host: '127.0.0.1', port: authProxy.port, credentials: { username: 'u', password: 'wrong' } };
      const authErr = await dialError(createTcpDialer(badAuth, 5000)('127.0.0.1', echo.port));
      expect(authErr.message).to.equal('socks5 handshake error: authentication failed');

      const port = await freePort();
      const refused = await dialError(createTcpDialer({ kind: 'socks5', host: '127.0.0.1', port }, 5000)('127.0.0.1', echo.port));
      expect(refused.message).to.equal(`connect to proxy error: dial tcp 127.0.0.1:${port}: connect: connection refused`);
    });

    it('dials through an HTTP CONNECT proxy, sending Basic credentials', async () => {
      const proxy = await startHttpProxy({ kind: 'tunnel' });
      cleanups.push(() => proxy.close());
      const upstream: UpstreamProxy = { kind: 'http', host: '127.0.0.1', port: proxy.port, credentials: { username: 'u', password: 'p' } };
      const socket = await createTcpDialer(upstream, 5000)('127.0.0.1', echo.port);
      cleanups.push(() => socket.destroy());
      expect(socket.allowHalfOpen).to.equal(true);
      expect((await exchange(socket, Buffer.from('via http'))).toString()).to.equal('via http');
      expect(proxy.requests[0]).to.equal(
        `CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: 127.0.0.1:${echo.port}\r\nProxy-Authorization: Basic ${Buffer.from('u:p').toString('base64')}`,
      );
    });

    it('keeps target bytes that arrive right behind the proxy response', async () => {
      const proxy = await startHttpProxy({ kind: 'tunnel', response: 'HTTP/1.1 200 OK\r\nVia: test\r\n\r\nEARLY:' });
      cleanups.push(() => proxy.close());
      const socket = await createTcpDialer({ kind: 'http', host: '127.0.0.1', port: proxy.port }, 5000)('127.0.0.1', echo.port);
      cleanups.push(() => socket.destroy());
      expect((await exchange(socket, Buffer.from('echoed'))).toString()).to.equal('EARLY:echoed');
    });

    it('fails on a non-2xx status even when "200" appears in a header', async () => {
      const proxy = await startHttpProxy({
        kind: 'refuse',
        response: 'HTTP/1.1 407 Proxy Authentication Required\r\nX-Retry-After: 200\r\nContent-Length: 0\r\n\r\n',
      });
      cleanups.push(() => proxy.close());
      const err = await dialError(createTcpDialer({ kind: 'http', host: '127.0.0.1', port: proxy.port }, 5000)('127.0.0.1', echo.port));
      expect(err.message).to.equal('HTTP CONNECT failed: HTTP/1.1 407 Proxy Authentication Required');
      expect(err.code).to.equal('ERR_UPSTREAM_HTTP_FAILED');
    });

    it('fails on a proxy that closes before a complete response', async () => {
      const proxy = await startHttpProxy({ kind: 'refuse', response: 'HTTP/1.1 200 OK\r\n' });
      cleanups.push(() => proxy.close());
      const err = await dialError(createTcpDialer({ kind: 'http', host: '127.0.0.1', port: proxy.port }, 5000)('127.0.0.1', echo.port));
      expect(err.code).to.equal('ERR_UPSTREAM_HTTP_READ');
      expect(err.message).to.equal('read CONNECT response error: EOF');
    });

    it('fails on an oversized response header block', async () => {
      const proxy = await startHttpProxy({ kind: 'refuse', response: `HTTP/1.1 200 OK\r\nX-Pad: ${'a'.repeat(9000)}\r\n\r\n` });
      cleanups.push(() => proxy.close());
      const err = await dialError(createTcpDialer({ kind: 'http', host: '127.0.0.1', port: proxy.port }, 5000)('127.0.0.1', echo.port));
      expect(err.code).to.equal('ERR_UPSTREAM_HTTP_FAILED');
      expect(err.message).to.match(/^HTTP CONNECT failed: HTTP\/1\.1 200 OK \(response headers exceed 8192 bytes\)$/);
    });

    it('times out when the HTTP proxy never answers', async () => {
      const proxy = await startHttpProxy({ kind: 'silent' });
      cleanups.push(() => proxy.close());
      const started = Date.now();
      const err = await dialError(createTcpDialer({ kind: 'http', host: '127.0.0.1', port: proxy.port }, 300)('127.0.0.1', echo.port));
      expect(err.code).to.equal('ERR_UPSTREAM_TIMEOUT');
      expect(Date.now() - started).to.be.below(5000);
      expect(proxy.requests).to.have.length(1);
    });

    it('reports a refused HTTP proxy connection', async () => {
      const port = await freePort();
      const err = await dialError(createTcpDialer({ kind: 'http', host: '127.0.0.1', port }, 5000)('127.0.0.1', echo.port));
      expect(err.code).to.equal('ERR_UPSTREAM_PROXY_CONNECT');
      expect(err.message).to.equal(`connect to proxy error: dial tcp 127.0.0.1:${port}: connect: connection refused`);
    });
  });
});

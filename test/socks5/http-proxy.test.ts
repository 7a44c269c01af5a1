// The forwarding HTTP proxy of the SOCKS port (src/socks5/http-proxy.ts) behind a plain relay that
// dials each origin directly (ProxyFixture): rewriting, keep-alive per origin, framing both ways,
// reply codes as statuses, credentials, and every hostile request answered with 400 and a close,
// never passed on as a second request.
import net from 'node:net';

import { expect } from 'chai';

import { HttpWire } from '../helpers/http-wire.js';
import { hasIPv6Loopback } from '../helpers/ipv6.js';
import { startRecordingOrigin, sha256, type RecordingOrigin } from '../helpers/http-origin.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { closer, listenLocal } from '../helpers/net.js';
import { makePayload } from '../helpers/payload.js';
import { Socks5Error } from '../../src/socks5/errors.js';
import { Reply, type SocksConnectRequest } from '../../src/socks5/types.js';
import { ProxyFixture } from './proxy-fixture.js';

/** An origin speaking raw bytes: `respond` gets each request's path and the socket. */
async function startRawOrigin(respond: (path: string, socket: net.Socket) => void): Promise<{ port: number; paths: string[]; close(): Promise<void> }> {
  const paths: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => sockets.delete(socket));
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        const path = buffered.slice(0, end).split(' ')[1] ?? '';
        buffered = buffered.slice(end + 4);
        paths.push(path);
        respond(path, socket);
      }
    });
  });
  return { port: await listenLocal(server), paths, close: closer(server, sockets) };
}

describe('socks5/HttpProxySession (forwarding HTTP proxy on the SOCKS port)', function () {
  this.timeout(15_000);
  checkNoLeaksAfterSuite();

  let origin: RecordingOrigin;
  let proxy: ProxyFixture | undefined;
  const wires: HttpWire[] = [];
  const cleanups: Array<() => Promise<void>> = [];

  async function startProxy(options: ConstructorParameters<typeof ProxyFixture>[0] = {}): Promise<number> {
    proxy = new ProxyFixture({ aliases: ['origin.test'], ...options });
    return proxy.start();
  }

  async function wire(port: number): Promise<HttpWire> {
    const w = await HttpWire.connect(port);
    wires.push(w);
    return w;
  }

  beforeEach(async () => {
    origin = await startRecordingOrigin();
  });

  afterEach(async () => {
    for (const w of wires.splice(0)) w.destroy();
    for (const cleanup of cleanups.splice(0)) await cleanup();
    await proxy?.close();
    proxy = undefined;
    await origin.close();
  });

  describe('forwarding', () => {
    it('rewrites to origin form with Host from the URL and strips hop-by-hop headers', async () => {
      const port = await startProxy();
      const w = await wire(port);
      await w.write(
        `GET http://origin.test:${origin.port}/path?q=1 HTTP/1.1\r\nHost: wrong.example\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\n` +
          'Proxy-Connection: keep-alive\r\nKeep-Alive: 300\r\nTE: trailers\r\nUpgrade: websocket\r\nX-End: kept\r\n\r\n',
      );
      const response = await w.response();
      expect(response.status).to.equal(200);
      expect(response.headers.get('connection')).to.equal('keep-alive');
      const [request] = origin.requests;
      expect(request).to.include({ method: 'GET', url: '/path?q=1', httpVersion: '1.1' });
      const names = request!.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      expect(names).to.deep.equal(['host', 'x-end']);
      expect(request!.headers.host).to.equal(`origin.test:${origin.port}`);
      const connect = proxy!.requests[0] as SocksConnectRequest;
      expect(connect).to.include({ protocol: 'http-proxy', host: 'origin.test', port: origin.port, addressType: 'domain' });
    });

    it('its connect request is answered once: a second accept or reject throws', async () => {
      const port = await startProxy();
      const w = await wire(port);
      await w.write(`GET http://origin.test:${origin.port}/once HTTP/1.1\r\n\r\n`);
      expect((await w.response()).status).to.equal(200);
      const connect = proxy!.requests[0] as SocksConnectRequest;
      expect(() => connect.accept()).to.throw(Socks5Error).with.property('code', 'ERR_SOCKS5_ALREADY_ANSWERED');
      expect(() => connect.reject(Reply.GeneralFailure)).to.throw(Socks5Error).with.property('code', 'ERR_SOCKS5_ALREADY_ANSWERED');
    });

    it('an IPv6 literal URL becomes an ATYP-4 style request with a bracketed Host', async function () {
      if (!(await hasIPv6Loopback())) this.skip();
      const origin6 = await startRecordingOrigin('::1');
      cleanups.push(() => origin6.close());
      const port = await startProxy();
      const w = await wire(port);
      await w.write(`GET ${origin6.url('/six')} HTTP/1.1\r\n\r\n`);
      expect((await w.response()).body.toString()).to.match(/^GET \/six 0 /);
      expect(origin6.requests[0]!.headers.host).to.equal(`[::1]:${origin6.port}`);
      expect(proxy!.requests[0]).to.include({ host: '::1', addressType: 'ipv6', port: origin6.port });
    });

    it('keeps one channel per origin across requests and opens a new one when the origin changes', async () => {
      const other = await startRecordingOrigin();
      cleanups.push(() => other.close());
      const port = await startProxy();
      const w = await wire(port);
      for (const path of ['/a', '/b']) {
        await w.write(`GET http://127.0.0.1:${origin.port}${path} HTTP/1.1\r\n\r\n`);
        expect((await w.response()).body.toString()).to.match(new RegExp(`^GET ${path} 0 `));
      }
      await w.write(`GET http://127.0.0.1:${other.port}/c HTTP/1.1\r\n\r\n`);
      expect((await w.response()).status).to.equal(200);
      await w.write(`GET http://127.0.0.1:${origin.port}/d HTTP/1.1\r\nConnection: close\r\n\r\n`);
      const last = await w.response();
      expect(last.headers.get('connection')).to.equal('close');
      await w.rest();
      expect(origin.requests.map((r) => [r.url, r.connection])).to.deep.equal([['/a', 0], ['/b', 0], ['/d', 1]]);
      expect(origin.requests[2]!.headers.connection).to.equal('close');
      expect(other.requests.map((r) => r.url)).to.deep.equal(['/c']);
      expect(proxy!.requests.map((r) => (r as SocksConnectRequest).port)).to.deep.equal([origin.port, other.port, origin.port]);
    });

    it('streams Content-Length and chunked request bodies (hashes match) and re-chunks canonically', async () => {
      const port = await startProxy();
      const w = await wire(port);
      const body = makePayload(300_000, 9);
      await w.write(`POST http://127.0.0.1:${origin.port}/len HTTP/1.1\r\nContent-Length: ${body.length}\r\n\r\n`);
      await w.write(body);
      expect((await w.response()).body.toString()).to.equal(`POST /len ${body.length} ${sha256(body)}\n`);
      const pieces = [body.subarray(0, 1000), body.subarray(1000, 250_000), body.subarray(250_000)];
      await w.write(`POST http://127.0.0.1:${origin.port}/chunked HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n`);
      for (const piece of pieces) await w.write(Buffer.concat([Buffer.from(`${piece.length.toString(16)};ext=1\r\n`), piece, Buffer.from('\r\n')]));
      await w.write('0\r\nX-Trailer: dropped\r\n\r\n');
      expect((await w.response()).body.toString()).to.equal(`POST /chunked ${body.length} ${sha256(body)}\n`);
      expect(origin.requests.map((r) => r.connection)).to.deep.equal([0, 0]);
      expect(origin.requests[1]!.headers['transfer-encoding']).to.equal('chunked');
    });

    it('answers pipelined requests in order, also across origins, without mixing them', async () => {
      const other = await startRecordingOrigin();
      cleanups.push(() => other.close());
      const port = await startProxy();
      const w = await wire(port);
      await w.write(
        `GET http://127.0.0.1:${origin.port}/bytes/200000 HTTP/1.1\r\n\r\n` +
          `POST http://127.0.0.1:${origin.port}/p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello` +
          `GET http://127.0.0.1:${other.port}/o HTTP/1.1\r\n\r\n` +
          `HEAD http://127.0.0.1:${origin.port}/bytes/10 HTTP/1.1\r\n\r\n`,
      );
      const first = await w.response();
      expect(sha256(first.body)).to.equal(first.headers.get('x-sha256'));
      expect((await w.response()).body.toString()).to.equal(`POST /p 5 ${sha256('hello')}\n`);
      expect((await w.response()).body.toString()).to.match(/^GET \/o 0 /);
      const head = await w.response('HEAD');
      expect(head.headers.get('content-length')).to.equal('10');
      expect(head.body.length).to.equal(0);
      expect(w.pending.length).to.equal(0);
    });

    it('streams a request body: the origin gets its start before the client has sent the rest', async () => {
      let received = 0;
      let notify: (() => void) | undefined;
      const sockets = new Set<net.Socket>();
      const server = net.createServer((socket) => {
        sockets.add(socket);
        socket.on('data', (chunk: Buffer) => {
          received += chunk.length;
          notify?.();
        });
      });
      const originPort = await listenLocal(server);
      cleanups.push(closer(server, sockets));
      const port = await startProxy();
      const w = await wire(port);
      const firstPart = makePayload(200_000, 4);
      await w.write(`POST http://127.0.0.1:${originPort}/up HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n`);
      await w.write(firstPart);
      await new Promise<void>((resolve) => {
        notify = () => {
          if (received > firstPart.length) resolve();
        };
        notify();
      });
    });

    it('a body that looks like a request stays a body (no smuggling through a valid Content-Length)', async () => {
      const port = await startProxy();
      const w = await wire(port);
      const inner = `GET http://127.0.0.1:${origin.port}/smuggled HTTP/1.1\r\n\r\n`;
      await w.write(`POST http://127.0.0.1:${origin.port}/outer HTTP/1.1\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`);
      expect((await w.response()).body.toString()).to.equal(`POST /outer ${inner.length} ${sha256(inner)}\n`);
      expect(origin.requests.map((r) => r.url)).to.deep.equal(['/outer']);
    });

    it('re-frames responses: chunked in, close-delimited in, HEAD, 204, 304 and 1xx, keeping the client connection', async () => {
      const raw = await startRawOrigin((path, socket) => {
        switch (path) {
          case '/chunked':
            socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n');
            break;
          case '/close':
            socket.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end');
            break;
          case '/head':
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n');
            break;
          case '/204':
            socket.write('HTTP/1.1 204 No Content\r\n\r\n');
            break;
          case '/304':
            socket.write('HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n');
            break;
          case '/continue':
            socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
            break;
        }
      });
      cleanups.push(() => raw.close());
      const port = await startProxy();
      const w = await wire(port);
      const get = async (path: string, method = 'GET') => {
        await w.write(`${method} http://127.0.0.1:${raw.port}${path} HTTP/1.1\r\n\r\n`);
        return w.response(method);
      };
      const chunked = await get('/chunked');
      expect(chunked.headers.get('transfer-encoding')).to.equal('chunked');
      expect(chunked.body.toString()).to.equal('abcde');
      const closeDelimited = await get('/close');
      expect(closeDelimited.headers.get('transfer-encoding')).to.equal('chunked');
      expect(closeDelimited.headers.get('connection')).to.equal('keep-alive');
      expect(closeDelimited.body.toString()).to.equal('until the end');
      const head = await get('/head', 'HEAD');
      expect(head.headers.get('content-length')).to.equal('1234');
      expect((await get('/204')).status).to.equal(204);
      const notModified = await get('/304');
      expect(notModified.status).to.equal(304);
      expect(notModified.headers.get('etag')).to.equal('"x"');
      expect((await get('/continue')).status).to.equal(100);
      expect((await w.response()).status).to.equal(103);
      expect((await w.response()).body.toString()).to.equal('ok');
      expect(raw.paths).to.deep.equal(['/chunked', '/close', '/head', '/204', '/304', '/continue']);
      expect(w.pending.length).to.equal(0);
    });

    it('a client that does not read holds the origin back (backpressure, bounded buffering), then gets every byte', async () => {
      const size = 64 * 1024 * 1024;
      const payload = makePayload(size, 12);
      /** Bytes the origin's kernel accepted (write callbacks), i.e. what left the origin. */
      let sent = 0;
      const raw = await startRawOrigin((_path, socket) => {
        // Close-delimited: the proxy re-chunks it, so the re-framing path is under load too.
        socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n');
        let offset = 0;
        const pump = (): void => {
          while (offset < size) {
            const piece = payload.subarray(offset, offset + 64 * 1024);
            offset += piece.length;
            if (!socket.write(piece, () => (sent += piece.length))) {
              socket.once('drain', pump);
              return;
            }
          }
          socket.end();
        };
        pump();
      });
      cleanups.push(() => raw.close());
      const port = await startProxy();
      const w = await wire(port);
      w.socket.pause();
      await w.write(`GET http://127.0.0.1:${raw.port}/big HTTP/1.1\r\n\r\n`);
      // Wait until the origin stops getting rid of bytes (failure guard: 10 s).
      let last = -1;
      let stable = 0;
      for (let i = 0; i < 200 && stable < 8; i += 1) {
        await new Promise<void>((resolve) => setTimeout(resolve, 50));
        stable = sent === last && sent > 0 ? stable + 1 : 0;
        last = sent;
      }
      // Kernel buffers of two loopback connections plus the proxy's own bounded buffers hold
      // what is in flight; the bulk of the 64 MiB is still waiting at the origin.
      expect(stable).to.equal(8);
      expect(sent).to.be.lessThan(32 * 1024 * 1024);
      w.socket.resume();
      const response = await w.response('GET', 30_000);
      expect(response.headers.get('transfer-encoding')).to.equal('chunked');
      expect(response.body.length).to.equal(size);
      expect(sha256(response.body)).to.equal(sha256(payload));
    });

    it('an origin answering before the request body is complete ends the connection after that response', async () => {
      const raw = await startRawOrigin((_path, socket) => socket.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\n\r\nnope'));
      cleanups.push(() => raw.close());
      const port = await startProxy();
      const w = await wire(port);
      await w.write(`POST http://127.0.0.1:${raw.port}/early HTTP/1.1\r\nContent-Length: 100000\r\n\r\nfirst bytes`);
      const response = await w.response();
      expect(response.status).to.equal(413);
      expect(response.headers.get('connection')).to.equal('close');
      // Whatever the client still sends is never read as a request.
      w.write(`GET http://127.0.0.1:${raw.port}/smuggled HTTP/1.1\r\n\r\n`).catch(() => undefined);
      await w.rest();
      expect(raw.paths).to.deep.equal(['/early']);
    });

    it('an HTTP/1.0 client gets a close-delimited body and a closed connection', async () => {
      const port = await startProxy();
      const w = await wire(port);
      await w.write(`GET http://127.0.0.1:${origin.port}/chunked/1000 HTTP/1.0\r\n\r\n`);
      const response = await w.response();
      expect(response.headers.get('connection')).to.equal('close');
      expect(response.headers.has('transfer-encoding')).to.equal(false);
      expect(sha256(response.body)).to.equal(response.headers.get('x-sha256'));
      await w.closed;
    });

    it('a response cut short by the origin resets the client: never a clean, truncated success', async () => {
      const raw = await startRawOrigin((_path, socket) => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
        socket.end(makePayload(1000, 3));
      });
      cleanups.push(() => raw.close());
      const port = await startProxy();
      const w = await wire(port);
      await w.write(`GET http://127.0.0.1:${raw.port}/cut HTTP/1.1\r\n\r\n`);
      const error = await w.response().then(
        () => undefined,
        (err: Error) => err,
      );
      expect(error?.message).to.match(/connection ended while reading body/);
      await w.closed;
      expect(w.error?.code).to.equal('ECONNRESET');
    });

    it('an unusable origin response before any byte reached the client is 502', async () => {
      const raw = await startRawOrigin((_path, socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx'));
      cleanups.push(() => raw.close());
      const port = await startProxy();
      const w = await wire(port);
      await w.write(`GET http://127.0.0.1:${raw.port}/ HTTP/1.1\r\n\r\n`);
      const response = await w.response();
      expect(response.status).to.equal(502);
      expect(response.body.toString()).to.include('Connection failed');
      await w.closed;
    });
  });

  describe('refusals', () => {
    const refusals: Array<[string, number, string]> = [
      [`GET /path HTTP/1.1\r\nHost: x\r\n\r\n`, 400, 'Absolute-form request URL required'],
      [`GET https://secure.test/ HTTP/1.1\r\n\r\n`, 400, 'Use CONNECT for HTTPS targets'],
      [`GET http://user:pw@origin.test/ HTTP/1.1\r\n\r\n`, 400, 'Invalid request URL'],
    ];
    for (const [request, status, text] of refusals) {
      it(`${JSON.stringify(request.split('\r\n')[0])} → ${status} ${text}`, async () => {
        const port = await startProxy();
        const w = await wire(port);
        await w.write(request);
        const response = await w.response();
        expect(response.status).to.equal(status);
        expect(response.body.toString()).to.include(text);
        await w.closed;
        expect(proxy!.requests.length).to.equal(0);
      });
    }

    const codes: Array<[number, number, string]> = [
      [Reply.NotAllowed, 403, 'Destination blocked by access control'],
      [Reply.NetworkUnreachable, 503, 'No backend available'],
      [Reply.HostUnreachable, 502, 'Connection failed'],
      [Reply.ConnectionRefused, 502, 'Connection failed'],
      [Reply.TtlExpired, 502, 'Connection failed'],
      [Reply.GeneralFailure, 502, 'Connection failed'],
    ];
    for (const [code, status, text] of codes) {
      it(`SOCKS reply ${code} from the relay → ${status} ${text}`, async () => {
        const port = await startProxy({ rejectWith: code as never });
        const w = await wire(port);
        await w.write(`GET http://origin.test:${origin.port}/ HTTP/1.1\r\n\r\n`);
        const response = await w.response();
        expect(response.status).to.equal(status);
        expect(response.body.toString()).to.include(text);
        expect(response.headers.get('connection')).to.equal('close');
        await w.closed;
      });
    }

    it('credentials: 407 with Proxy-Authenticate without or with wrong ones, 200 with the right ones', async () => {
      const port = await startProxy({ credentials: { username: 'alice', password: 's3cret' } });
      const basic = (cred: string): string => `Proxy-Authorization: Basic ${Buffer.from(cred).toString('base64')}\r\n`;
      for (const auth of ['', basic('alice:wrong'), basic('alice')]) {
        const w = await wire(port);
        await w.write(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\n${auth}\r\n`);
        const response = await w.response();
        expect(response.status).to.equal(407);
        expect(response.headers.get('proxy-authenticate')).to.equal('Basic realm="LinkSocks"');
        expect(response.body.toString()).to.include('Proxy authentication required');
      }
      const w = await wire(port);
      await w.write(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\n${basic('alice:s3cret')}\r\n`);
      await w.write(`GET http://127.0.0.1:${origin.port}/again HTTP/1.1\r\n${basic('alice:s3cret')}\r\n`);
      expect((await w.response()).status).to.equal(200);
      expect((await w.response()).status).to.equal(200);
      expect(origin.requests.map((r) => r.url)).to.deep.equal(['/', '/again']);
      expect(origin.requests[0]!.headers['proxy-authorization']).to.equal(undefined);
    });

    it('httpConnect: false turns absolute-form requests away like any non-SOCKS5 client', async () => {
      const port = await startProxy({ httpConnect: false });
      const w = await wire(port);
      await w.write(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\n\r\n`);
      const rest = await w.rest();
      expect(rest.toString('latin1')).to.not.match(/^HTTP/);
      expect(origin.requests.length).to.equal(0);
    });
  });

  describe('hostile requests: 400, connection closed, nothing smuggled', () => {
    const smuggled = 'GET http://127.0.0.1:PORT/smuggled HTTP/1.1\r\n\r\n';
    const cases: Array<[string, string, number?]> = [
      ['Content-Length and Transfer-Encoding', 'POST http://127.0.0.1:PORT/x HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + smuggled],
      ['duplicate Content-Length', 'POST http://127.0.0.1:PORT/x HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n' + smuggled],
      ['conflicting Content-Length', 'POST http://127.0.0.1:PORT/x HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 47\r\n\r\n' + smuggled],
      ['Content-Length list', 'POST http://127.0.0.1:PORT/x HTTP/1.1\r\nContent-Length: 0, 0\r\n\r\n' + smuggled],
      ['invalid Content-Length', 'POST http://127.0.0.1:PORT/x HTTP/1.1\r\nContent-Length: +0\r\n\r\n' + smuggled],
      ['obs-fold header', 'GET http://127.0.0.1:PORT/x HTTP/1.1\r\nX-A: b\r\n Transfer-Encoding: chunked\r\n\r\n'],
      ['space before colon', 'POST http://127.0.0.1:PORT/x HTTP/1.1\r\nContent-Length : 47\r\n\r\n' + smuggled],
      ['Transfer-Encoding other than chunked', 'POST http://127.0.0.1:PORT/x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n' + smuggled],
      ['Transfer-Encoding twice', 'POST http://127.0.0.1:PORT/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + smuggled],
      ['Transfer-Encoding in HTTP/1.0', 'POST http://127.0.0.1:PORT/x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' + smuggled],
      ['bare LF line ends', 'GET http://127.0.0.1:PORT/x HTTP/1.1\nHost: a\n\n' + smuggled],
      ['bare CR in a header', 'GET http://127.0.0.1:PORT/x HTTP/1.1\r\nX-A: a\rB: c\r\n\r\n'],
      ['two Host headers', 'GET http://127.0.0.1:PORT/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
      ['malformed request line', 'GET http://127.0.0.1:PORT/x  HTTP/1.1\r\n\r\n'],
      ['header block over the bound', `GET http://127.0.0.1:PORT/x HTTP/1.1\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`, 431],
      ['invalid chunk size', 'POST http://127.0.0.1:PORT/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n' + smuggled],
      ['negative chunk size', 'POST http://127.0.0.1:PORT/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n' + smuggled],
      ['chunk size with trailing junk', 'POST http://127.0.0.1:PORT/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n0\r\n\r\n' + smuggled],
      ['chunk data longer than its size', 'POST http://127.0.0.1:PORT/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nhello\r\n0\r\n\r\n' + smuggled],
      ['bare LF in chunked framing', 'POST http://127.0.0.1:PORT/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n' + smuggled],
    ];
    for (const [name, template, status = 400] of cases) {
      it(`${name} → ${status}`, async () => {
        const port = await startProxy();
        const w = await wire(port);
        w.write(template.replaceAll('PORT', String(origin.port))).catch(() => undefined);
        const response = await w.response();
        expect(response.status).to.equal(status);
        expect(response.headers.get('connection')).to.equal('close');
        await w.rest();
        // The origin may have seen the start of a chunked request that was then cut, but never a
        // complete request, let alone the smuggled one.
        expect(origin.requests.map((r) => r.url)).to.deep.equal([]);
      });
    }

    it('a request body cut by the client closes the origin channel; the origin sees no complete request', async () => {
      const port = await startProxy();
      const w = await wire(port);
      await w.write(`POST http://127.0.0.1:${origin.port}/x HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly a bit`);
      await new Promise<void>((resolve) => {
        const poll = (): void => (origin.connections > 0 ? resolve() : void setTimeout(poll, 10));
        poll();
      });
      w.socket.end();
      await w.closed;
      expect(origin.requests.length).to.equal(0);
    });
  });

  describe('connection lifetime', () => {
    it('an idle kept-alive connection closes after the keep-alive timeout', async () => {
      const port = await startProxy({ httpKeepAliveTimeoutMs: 200 });
      const w = await wire(port);
      await w.write(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\n\r\n`);
      expect((await w.response()).status).to.equal(200);
      await w.rest(5000);
      expect(w.error).to.equal(undefined);
    });

    it('close() ends idle proxy connections', async () => {
      const port = await startProxy();
      const w = await wire(port);
      await w.write(`GET http://127.0.0.1:${origin.port}/ HTTP/1.1\r\n\r\n`);
      expect((await w.response()).status).to.equal(200);
      await proxy!.server.close();
      await w.rest(5000);
    });

    it('a GET on a kept-alive origin channel that the origin closed meanwhile is retried once on a new channel', async () => {
      let connection = 0;
      const seen = new WeakMap<net.Socket, number>();
      const raw = await startRawOrigin((path, socket) => {
        if (!seen.has(socket)) seen.set(socket, connection++);
        // The first connection answers once, then closes when the next request arrives (the
        // origin's idle close crossing that request); the retry lands on a second connection.
        if (seen.get(socket) === 0 && path !== '/first') socket.destroy();
        else socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${path.length}\r\n\r\n${path}`);
      });
      cleanups.push(() => raw.close());
      const port = await startProxy();
      const w = await wire(port);
      await w.write(`GET http://127.0.0.1:${raw.port}/first HTTP/1.1\r\n\r\n`);
      expect((await w.response()).body.toString()).to.equal('/first');
      await w.write(`GET http://127.0.0.1:${raw.port}/second HTTP/1.1\r\n\r\n`);
      expect((await w.response()).body.toString()).to.equal('/second');
      expect(raw.paths).to.deep.equal(['/first', '/second', '/second']);
      expect(connection).to.equal(2);
      // A POST is not retried: the client gets 502 and decides itself.
      const again = await startRawOrigin((path, socket) => {
        if (path === '/first') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
        else socket.destroy();
      });
      cleanups.push(() => again.close());
      await w.write(`GET http://127.0.0.1:${again.port}/first HTTP/1.1\r\n\r\n`);
      expect((await w.response()).status).to.equal(200);
      await w.write(`POST http://127.0.0.1:${again.port}/post HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi`);
      expect((await w.response()).status).to.equal(502);
      expect(again.paths).to.deep.equal(['/first', '/post']);
    });

    it('a CONNECT after plain requests turns the connection into a tunnel', async () => {
      const port = await startProxy();
      const w = await wire(port);
      await w.write(`GET http://127.0.0.1:${origin.port}/first HTTP/1.1\r\n\r\n`);
      expect((await w.response()).status).to.equal(200);
      await w.write(`CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\n\r\nGET /tunnelled HTTP/1.1\r\nHost: x\r\n\r\n`);
      const established = await w.response('CONNECT');
      expect(established.status).to.equal(200);
      // The tunnel bytes come straight from the origin; the 200 to CONNECT has no body.
      const tunnelled = await w.response();
      expect(tunnelled.body.toString()).to.match(/^GET \/tunnelled 0 /);
      expect(proxy!.requests.map((r) => (r as SocksConnectRequest).protocol)).to.deep.equal(['http-proxy', 'http-connect']);
    });
  });
});

import dgram from 'node:dgram';
import net from 'node:net';
import os from 'node:os';

import { expect } from 'chai';
import { SocksClient } from 'socks';

import { startEchoServer, startHttpServer, startUdpEchoServer, waitForEvent, withTimeout, type EchoServer } from '../helpers/net.js';
import { curlViaSocks, socksAssociate } from '../helpers/socks.js';
import { makePayload, sendAndCollect } from '../helpers/payload.js';
import { execFile } from 'node:child_process';
import { Reply, type SocksConnectRequest } from '../../src/socks5/types.js';
import { ProxyFixture } from './proxy-fixture.js';
import { RawClient, closedWithin } from './raw-client.js';

const GREETING_NOAUTH = [0x05, 0x01, 0x00];
const SUCCESS_PREFIX = Buffer.from([0x05, 0x00, 0x00]);

function connectRequestIPv4(port: number, command = 0x01): number[] {
  return [0x05, command, 0x00, 0x01, 127, 0, 0, 1, port >> 8, port & 0xff];
}

function hasIPv6Loopback(): boolean {
  return Object.values(os.networkInterfaces()).some((list) => list?.some((i) => i.family === 'IPv6' && i.address === '::1'));
}

function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['--silent', '--max-time', '5', ...args], { timeout: 8000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('socks5/Socks5Server', function () {
  this.timeout(10_000);

  let echo: EchoServer;
  let proxy: ProxyFixture | undefined;
  const clients: RawClient[] = [];
  const cleanups: Array<() => unknown> = [];

  async function startProxy(options: ConstructorParameters<typeof ProxyFixture>[0] = {}): Promise<number> {
    proxy = new ProxyFixture({ aliases: ['echo.test', 'target.test'], ...options });
    return proxy.start();
  }

  async function raw(port: number): Promise<RawClient> {
    const client = await RawClient.connect(port);
    clients.push(client);
    return client;
  }

  beforeEach(async () => {
    echo = await startEchoServer();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.destroy();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await proxy?.close();
    proxy = undefined;
    await echo.close();
  });

  describe('CONNECT without authentication', () => {
    it('relays to an IPv4 target (socks package as client)', async () => {
      const port = await startProxy();
      const { socket } = await SocksClient.createConnection({
        command: 'connect',
        proxy: { host: '127.0.0.1', port, type: 5 },
        destination: { host: '127.0.0.1', port: echo.port },
      });
      cleanups.push(() => socket.destroy());
      const payload = makePayload(100_000);
      expect((await sendAndCollect(socket, payload)).equals(payload)).to.equal(true);
      const req = proxy!.requests[0] as SocksConnectRequest;
      expect(req).to.include({ command: 'connect', host: '127.0.0.1', port: echo.port, addressType: 'ipv4', protocol: 'socks5' });
    });

    it('passes a domain name through verbatim (ATYP 3)', async () => {
      const port = await startProxy();
      const { socket } = await SocksClient.createConnection({
        command: 'connect',
        proxy: { host: '127.0.0.1', port, type: 5 },
        destination: { host: 'echo.test', port: echo.port },
      });
      cleanups.push(() => socket.destroy());
      expect((await sendAndCollect(socket, Buffer.from('hello'))).toString()).to.equal('hello');
      expect(proxy!.requests[0]).to.include({ host: 'echo.test', addressType: 'domain' });
    });

    it('serves an IPv6 listener and IPv6 target (::1), BND with ATYP 4', async function () {
      if (!hasIPv6Loopback()) this.skip(); // No IPv6 loopback on this machine.
      const echo6 = net.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
      await new Promise<void>((resolve) => echo6.listen(0, '::1', resolve));
      const echo6Sockets = new Set<net.Socket>();
      echo6.on('connection', (s) => echo6Sockets.add(s));
      cleanups.push(() => {
        for (const s of echo6Sockets) s.destroy();
        return new Promise<void>((resolve) => echo6.close(() => resolve()));
      });
      const echo6Port = (echo6.address() as net.AddressInfo).port;
      const port = await startProxy({ host: '::1' });
      const client = await RawClient.connect(port, '::1');
      clients.push(client);
      await client.write(GREETING_NOAUTH);
      expect([...(await client.next(2))]).to.deep.equal([0x05, 0x00]);
      const request = Buffer.alloc(22);
      request.set([0x05, 0x01, 0x00, 0x04]);
      request[19] = 1; // ::1
      request.writeUInt16BE(echo6Port, 20);
      await client.write(request);
      const reply = await client.next(22);
      expect([...reply.subarray(0, 4)]).to.deep.equal([0x05, 0x00, 0x00, 0x04]);
      expect(reply.readUInt16BE(20)).to.equal(port);
      await client.write(Buffer.from('six'));
      expect((await client.next(3)).toString()).to.equal('six');
      expect(proxy!.requests[0]).to.include({ host: '::1', addressType: 'ipv6' });
    });

    it('presents IPv6 targets in RFC 5952 form and IPv4-mapped ones as IPv4', async () => {
      const port = await startProxy({ rejectWith: Reply.HostUnreachable });
      const cases: Array<[number[], string, string]> = [
        [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], '2001:db8::1:0:0:1', 'ipv6'],
        [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3], '10.1.2.3', 'ipv4'],
      ];
      for (const [bytes, host, addressType] of cases) {
        const client = await raw(port);
        await client.write([...GREETING_NOAUTH, 0x05, 0x01, 0x00, 0x04, ...bytes, 0x00, 0x50]);
        await client.next(2);
        expect((await client.next(10))[1]).to.equal(Reply.HostUnreachable);
        await closedWithin(client);
        expect(proxy!.requests.at(-1)).to.include({ host, addressType, port: 80 });
      }
    });

    it('answers 05 00 whatever methods are offered when no credentials are set', async () => {
      const port = await startProxy();
      const client = await raw(port);
      await client.write([0x05, 0x01, 0x02]);
      expect([...(await client.next(2))]).to.deep.equal([0x05, 0x00]);
    });
  });

  describe('username/password (RFC 1929)', () => {
    const credentials = { username: 'alice', password: 's3cret' };

    it('accepts the right credentials (socks package as client)', async () => {
      const port = await startProxy({ credentials });
      const { socket } = await SocksClient.createConnection({
        command: 'connect',
        proxy: { host: '127.0.0.1', port, type: 5, userId: 'alice', password: 's3cret' },
        destination: { host: '127.0.0.1', port: echo.port },
      });
      cleanups.push(() => socket.destroy());
      expect((await sendAndCollect(socket, Buffer.from('auth ok'))).toString()).to.equal('auth ok');
    });

    it('answers 01 01 to a wrong password and closes', async () => {
      const port = await startProxy({ credentials });
      const client = await raw(port);
      await client.write([0x05, 0x02, 0x00, 0x02]);
      expect([...(await client.next(2))]).to.deep.equal([0x05, 0x02]);
      await client.write([0x01, 5, ...Buffer.from('alice'), 5, ...Buffer.from('wrong')]);
      expect([...(await client.next(2))]).to.deep.equal([0x01, 0x01]);
      expect((await closedWithin(client)).length).to.equal(0);
      expect(proxy!.requests).to.have.length(0);
      expect(proxy!.handshakeErrors.map((e) => e.code)).to.deep.equal(['ERR_SOCKS5_AUTH_FAILED']);
    });

    it('answers 05 FF when only no-auth is offered', async () => {
      const port = await startProxy({ credentials });
      const client = await raw(port);
      await client.write(GREETING_NOAUTH);
      expect([...(await client.next(2))]).to.deep.equal([0x05, 0xff]);
      await closedWithin(client);
      expect(proxy!.handshakeErrors[0]?.code).to.equal('ERR_SOCKS5_NO_ACCEPTABLE_METHOD');
    });
  });

  describe('request errors', () => {
    it('replies 07 to an unsupported command (BIND) and closes', async () => {
      const port = await startProxy();
      const client = await raw(port);
      await client.write([...GREETING_NOAUTH, ...connectRequestIPv4(echo.port, 0x02)]);
      await client.next(2);
      expect([...(await client.next(10))]).to.deep.equal([0x05, 0x07, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
      await closedWithin(client);
      expect(proxy!.requests).to.have.length(0);
    });

    it('replies 08 to an unknown address type and closes', async () => {
      const port = await startProxy();
      const client = await raw(port);
      await client.write([...GREETING_NOAUTH, 0x05, 0x01, 0x00, 0x09]);
      await client.next(2);
      expect((await client.next(10))[1]).to.equal(Reply.AddressTypeNotSupported);
      await closedWithin(client);
    });

    it('replies with the 10-byte 05 01 form to a bad greeting version and closes', async () => {
      const port = await startProxy();
      const client = await raw(port);
      await client.write([0x04, 0x01, 0x00, 0x50, 127, 0, 0, 1, 0]);
      expect([...(await client.next(10))]).to.deep.equal([0x05, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0]);
      await closedWithin(client);
      expect(proxy!.handshakeErrors[0]?.code).to.equal('ERR_SOCKS5_VERSION');
    });

    it('passes reject codes through to the client', async () => {
      for (const code of [Reply.GeneralFailure, Reply.NetworkUnreachable, Reply.HostUnreachable, Reply.ConnectionRefused, Reply.TtlExpired]) {
        const port = await startProxy({ rejectWith: code });
        const client = await raw(port);
        await client.write([...GREETING_NOAUTH, ...connectRequestIPv4(echo.port)]);
        await client.next(2);
        expect((await client.next(10))[1]).to.equal(code);
        await closedWithin(client);
        await proxy!.close();
      }
    });

    it('rejects with 05 01 when onRequest throws, and keeps serving', async () => {
      const { Socks5Server } = await import('../../src/socks5/server.js');
      let calls = 0;
      const server = new Socks5Server({ host: '127.0.0.1', port: 0 }, () => {
        calls += 1;
        throw new Error('boom');
      });
      const errors: string[] = [];
      server.on('handshakeError', (err) => errors.push(err.code));
      cleanups.push(() => server.close());
      const { port } = await server.listen();
      for (let i = 0; i < 2; i += 1) {
        const client = await raw(port);
        await client.write([...GREETING_NOAUTH, ...connectRequestIPv4(echo.port)]);
        await client.next(2);
        expect((await client.next(10))[1]).to.equal(Reply.GeneralFailure);
      }
      expect(calls).to.equal(2);
      expect(errors).to.deep.equal(['ERR_SOCKS5_HANDLER', 'ERR_SOCKS5_HANDLER']);
    });
  });

  describe('framing', () => {
    it('completes a handshake written one byte at a time (with auth)', async () => {
      const port = await startProxy({ credentials: { username: 'u', password: 'p' } });
      const client = await raw(port);
      const bytes = [0x05, 0x01, 0x02, 0x01, 1, 0x75, 1, 0x70, ...connectRequestIPv4(echo.port)];
      const replies = client.next(2 + 2 + 10);
      for (const byte of bytes) await client.write([byte]);
      const reply = await replies;
      expect([...reply.subarray(0, 4)]).to.deep.equal([0x05, 0x02, 0x01, 0x00]);
      expect(reply.subarray(4, 7).equals(SUCCESS_PREFIX)).to.equal(true);
      await client.write(Buffer.from('ping'));
      expect((await client.next(4)).toString()).to.equal('ping');
    });

    it('keeps pipelined bytes after the request as head', async () => {
      const port = await startProxy();
      const client = await raw(port);
      const payload = Buffer.from('pipelined payload');
      await client.write([...GREETING_NOAUTH, ...connectRequestIPv4(echo.port), ...payload]);
      await client.next(2 + 10);
      expect((await client.next(payload.length)).equals(payload)).to.equal(true);
      expect((proxy!.requests[0] as SocksConnectRequest).head.equals(payload)).to.equal(true);
    });

    it('replies with the listener address as BND', async () => {
      const port = await startProxy();
      const client = await raw(port);
      await client.write([...GREETING_NOAUTH, ...connectRequestIPv4(echo.port)]);
      const reply = await client.next(12);
      expect([...reply.subarray(2, 10)]).to.deep.equal([0x05, 0x00, 0x00, 0x01, 127, 0, 0, 1]);
      expect(reply.readUInt16BE(10)).to.equal(port);
    });

    it('closes a connection that does not finish the handshake in time', async () => {
      const port = await startProxy({ handshakeTimeoutMs: 150 });
      const client = await raw(port);
      await client.write([0x05]);
      expect((await closedWithin(client, 3000)).length).to.equal(0);
      expect(proxy!.handshakeErrors.map((e) => e.code)).to.deep.equal(['ERR_SOCKS5_HANDSHAKE_TIMEOUT']);
    });

    it('survives garbage and keeps serving', async () => {
      const port = await startProxy({ handshakeTimeoutMs: 500 });
      const inputs: Buffer[] = [
        makePayload(4096, 7),
        Buffer.from([0x05, 0x00]),
        Buffer.from([0x05, 0xff, ...makePayload(300, 3)]),
        Buffer.from([...GREETING_NOAUTH, 0x05, 0x01, 0x00, 0x03, 0xff, 0x41]),
        Buffer.from([...GREETING_NOAUTH, 0x07, 0x01]),
        Buffer.from('GET / HTTP/1.1\r\n\r\n'),
        Buffer.from(`CONNECT ${'x'.repeat(9000)}`),
        Buffer.from([0x47, 0x00, 0xff, 0x0d, 0x0a, 0x0d, 0x0a]),
      ];
      for (let seed = 1; seed <= 20; seed += 1) inputs.push(Buffer.concat([Buffer.from([0x05]), makePayload(seed * 13, seed)]));
      await Promise.all(
        inputs.map(async (input) => {
          const client = await raw(port);
          client.socket.end(input);
          await closedWithin(client, 3000);
        }),
      );
      const { socket } = await SocksClient.createConnection({
        command: 'connect',
        proxy: { host: '127.0.0.1', port, type: 5 },
        destination: { host: '127.0.0.1', port: echo.port },
      });
      cleanups.push(() => socket.destroy());
      expect((await sendAndCollect(socket, Buffer.from('still alive'))).toString()).to.equal('still alive');
    });
  });

  describe('UDP ASSOCIATE', () => {
    async function associate(port: number): Promise<{ control: net.Socket; relay: { host: string; port: number }; udp: dgram.Socket }> {
      const { control, remoteHost } = await socksAssociate(port);
      const udp = dgram.createSocket('udp4');
      cleanups.push(() => {
        control.destroy();
        return new Promise<void>((resolve) => udp.close(() => resolve()));
      });
      await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
      return { control, relay: remoteHost!, udp };
    }

    function nextDatagram(udp: dgram.Socket): Promise<Buffer> {
      return withTimeout(new Promise<Buffer>((resolve) => udp.once('message', resolve)), 5000, 'UDP reply');
    }

    it('relays a datagram to a UDP echo and wraps the reply', async () => {
      const udpEcho = await startUdpEchoServer();
      cleanups.push(() => udpEcho.close());
      const port = await startProxy();
      const { relay, udp } = await associate(port);
      expect(relay.host).to.equal('127.0.0.1');
      const answer = nextDatagram(udp);
      udp.send(SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: udpEcho.port }, data: Buffer.from('udp hello') }), relay.port, relay.host);
      const frame = SocksClient.parseUDPFrame(await answer);
      expect(frame.data.toString()).to.equal('udp hello');
      expect(frame.remoteHost).to.deep.equal({ host: '127.0.0.1', port: udpEcho.port });
    });

    it('drops fragmented and truncated datagrams and keeps relaying', async () => {
      const udpEcho = await startUdpEchoServer();
      cleanups.push(() => udpEcho.close());
      const port = await startProxy();
      const { relay, udp } = await associate(port);
      const good = SocksClient.createUDPFrame({ remoteHost: { host: '127.0.0.1', port: udpEcho.port }, data: Buffer.from('whole') });
      const fragmented = Buffer.from(good);
      fragmented[2] = 1;
      const truncated = Buffer.from([0x00, 0x00, 0x00, 0x03, 200, 0x61]);
      const answer = nextDatagram(udp);
      for (const datagram of [fragmented, truncated, Buffer.from([0]), good]) {
        await new Promise<void>((resolve) => udp.send(datagram, relay.port, relay.host, () => resolve()));
      }
      expect(SocksClient.parseUDPFrame(await answer).data.toString()).to.equal('whole');
      expect(udpEcho.datagrams).to.equal(1);
      expect(proxy!.associations[0]!.dropped).to.equal(3);
    });

    it('closes the association once when the control connection closes', async () => {
      const port = await startProxy();
      const { control } = await associate(port);
      // The fixture stores the association before the reply reaches the client.
      const association = proxy!.associations[0]!;
      let closes = 0;
      association.on('close', () => (closes += 1));
      const closed = waitForEvent(association as unknown as NodeJS.EventEmitter, 'close');
      control.destroy();
      await closed;
      association.close();
      expect(closes).to.equal(1);
    });

    it('closes an idle association and its control connection', async () => {
      const port = await startProxy({ udpIdleTimeoutMs: 150 });
      const { control } = await associate(port);
      const association = proxy!.associations[0]!;
      const controlClosed = waitForEvent(control, 'close');
      await waitForEvent(association as unknown as NodeJS.EventEmitter, 'close');
      await controlClosed;
      expect(control.destroyed).to.equal(true);
    });
  });

  describe('HTTP CONNECT on the same port', () => {
    it('tunnels curl -p -x http://', async () => {
      const http = await startHttpServer('via http connect\n');
      cleanups.push(() => http.close());
      const port = await startProxy();
      const result = await curl(['-p', '-x', `http://127.0.0.1:${port}`, `http://target.test:${http.port}/`]);
      expect(result.stdout).to.equal('via http connect\n');
      expect(proxy!.requests[0]).to.include({ protocol: 'http-connect', host: 'target.test', port: http.port, addressType: 'domain' });
    });

    it('requires Proxy-Authorization when credentials are set (407 / 200)', async () => {
      const http = await startHttpServer('authorised\n');
      cleanups.push(() => http.close());
      const port = await startProxy({ credentials: { username: 'bob', password: 'pw' } });
      const denied = await curl(['-p', '-x', `http://127.0.0.1:${port}`, '-w', '%{http_connect}', http.url]);
      expect(denied.stdout).to.equal('407');
      const allowed = await curl(['-p', '-x', `http://127.0.0.1:${port}`, '-U', 'bob:pw', http.url]);
      expect(allowed.stdout).to.equal('authorised\n');
    });

    it('serves other methods as a forwarding proxy: curl -x http:// without -p reaches the target', async () => {
      const http = await startHttpServer('forwarded\n');
      cleanups.push(() => http.close());
      const port = await startProxy();
      const result = await curl(['-x', `http://127.0.0.1:${port}`, `http://target.test:${http.port}/`]);
      expect(result.stdout).to.equal('forwarded\n');
      expect(proxy!.requests[0]).to.include({ protocol: 'http-proxy', host: 'target.test', port: http.port, addressType: 'domain' });
    });

    it('maps reject codes to HTTP statuses', async () => {
      const port = await startProxy({ rejectWith: Reply.ConnectionRefused });
      const client = await raw(port);
      await client.write(Buffer.from('CONNECT [::ffff:127.0.0.1]:9 HTTP/1.1\r\n\r\n'));
      expect((await closedWithin(client)).toString('latin1')).to.match(/^HTTP\/1\.1 502 /);
      expect(proxy!.requests[0]).to.include({ host: '127.0.0.1', addressType: 'ipv4', port: 9 });
    });

    it('works with curl --socks5-hostname on the same port', async () => {
      const http = await startHttpServer('via socks\n');
      cleanups.push(() => http.close());
      const port = await startProxy();
      const { stdout } = await curlViaSocks(port, `http://target.test:${http.port}/`);
      expect(stdout).to.equal('via socks\n');
    });
  });

  describe('close()', () => {
    it('stops listening, destroys sockets in handshake and leaves no handles', async () => {
      const { snapshotResources, assertNoLeakedHandles } = await import('../helpers/leaks.js');
      const before = snapshotResources();
      const port = await startProxy();
      const client = await raw(port);
      await client.write([0x05]);
      await proxy!.close();
      await closedWithin(client);
      expect(proxy!.server.address()).to.equal(null);
      const refused = await new Promise<string>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      });
      expect(refused).to.equal('ECONNREFUSED');
      proxy = undefined;
      await assertNoLeakedHandles(before);
    });
  });
});


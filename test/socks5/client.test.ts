import net from 'node:net';

import { expect } from 'chai';

import { socks5Connect, describeReply } from '../../src/socks5/client.js';
import { Socks5Error } from '../../src/socks5/errors.js';
import { Reply } from '../../src/socks5/types.js';
import { startEchoServer, type EchoServer } from '../helpers/net.js';
import { sendAndCollect } from '../helpers/payload.js';
import { ProxyFixture } from './proxy-fixture.js';

describe('socks5/socks5Connect', function () {
  this.timeout(10_000);

  let echo: EchoServer;
  let proxy: ProxyFixture | undefined;
  const cleanups: Array<() => unknown> = [];

  async function startProxy(options: ConstructorParameters<typeof ProxyFixture>[0] = {}): Promise<number> {
    proxy = new ProxyFixture({ aliases: ['echo.test'], ...options });
    return proxy.start();
  }

  async function expectError(promise: Promise<unknown>): Promise<Socks5Error> {
    try {
      await promise;
    } catch (err) {
      expect(err).to.be.instanceOf(Socks5Error);
      return err as Socks5Error;
    }
    throw new Error('expected a Socks5Error');
  }

  beforeEach(async () => {
    echo = await startEchoServer();
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await proxy?.close();
    proxy = undefined;
    await echo.close();
  });

  it('connects through the proxy with a domain name (ATYP 3) and relays', async () => {
    const proxyPort = await startProxy();
    const { socket, head } = await socks5Connect({
      proxyHost: '127.0.0.1',
      proxyPort,
      targetHost: 'echo.test',
      targetPort: echo.port,
      timeoutMs: 5000,
    });
    cleanups.push(() => socket.destroy());
    expect(head.length).to.equal(0);
    socket.resume();
    expect((await sendAndCollect(socket, Buffer.from('through upstream'))).toString()).to.equal('through upstream');
    expect(proxy!.requests[0]).to.include({ host: 'echo.test', addressType: 'domain' });
  });

  it('authenticates with username/password', async () => {
    const proxyPort = await startProxy({ credentials: { username: 'u1', password: 'p1' } });
    const { socket } = await socks5Connect({
      proxyHost: '127.0.0.1',
      proxyPort,
      username: 'u1',
      password: 'p1',
      targetHost: '127.0.0.1',
      targetPort: echo.port,
      timeoutMs: 5000,
    });
    cleanups.push(() => socket.destroy());
    socket.resume();
    expect((await sendAndCollect(socket, Buffer.from('authed'))).toString()).to.equal('authed');
    expect(proxy!.requests[0]).to.include({ host: '127.0.0.1', addressType: 'ipv4' });
  });

  it('fails with ERR_SOCKS5_AUTH_FAILED on wrong credentials', async () => {
    const proxyPort = await startProxy({ credentials: { username: 'u1', password: 'p1' } });
    const err = await expectError(
      socks5Connect({ proxyHost: '127.0.0.1', proxyPort, username: 'u1', password: 'nope', targetHost: '127.0.0.1', targetPort: echo.port, timeoutMs: 5000 }),
    );
    expect(err.code).to.equal('ERR_SOCKS5_AUTH_FAILED');
  });

  it('fails with ERR_SOCKS5_NO_ACCEPTABLE_METHOD when credentials are required but not given', async () => {
    const proxyPort = await startProxy({ credentials: { username: 'u1', password: 'p1' } });
    const err = await expectError(socks5Connect({ proxyHost: '127.0.0.1', proxyPort, targetHost: '127.0.0.1', targetPort: echo.port, timeoutMs: 5000 }));
    expect(err.code).to.equal('ERR_SOCKS5_NO_ACCEPTABLE_METHOD');
  });

  it('reports a failure reply with its code and meaning', async () => {
    const proxyPort = await startProxy({ rejectWith: Reply.ConnectionRefused });
    const err = await expectError(socks5Connect({ proxyHost: '127.0.0.1', proxyPort, targetHost: '::1', targetPort: 9, timeoutMs: 5000 }));
    expect(err.code).to.equal('ERR_SOCKS5_CONNECT_FAILED');
    expect(err.reply).to.equal(Reply.ConnectionRefused);
    expect(err.message).to.contain('connection refused');
    expect(proxy!.requests[0]).to.include({ host: '::1', addressType: 'ipv6' });
    expect(describeReply(0x42)).to.contain('unassigned');
  });

  it('fails with ERR_SOCKS5_PROXY_CONNECT when nothing listens', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const err = await expectError(socks5Connect({ proxyHost: '127.0.0.1', proxyPort: closedPort, targetHost: 'x', targetPort: 1, timeoutMs: 5000 }));
    expect(err.code).to.equal('ERR_SOCKS5_PROXY_CONNECT');
  });

  describe('against a silent proxy', () => {
    let silent: net.Server;
    const accepted = new Set<net.Socket>();

    beforeEach(async () => {
      silent = net.createServer((socket) => {
        accepted.add(socket);
        socket.once('close', () => accepted.delete(socket));
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    });

    afterEach(async () => {
      for (const socket of accepted) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    it('times out with ERR_SOCKS5_TIMEOUT', async () => {
      const { port } = silent.address() as net.AddressInfo;
      const err = await expectError(socks5Connect({ proxyHost: '127.0.0.1', proxyPort: port, targetHost: 'x', targetPort: 1, timeoutMs: 100 }));
      expect(err.code).to.equal('ERR_SOCKS5_TIMEOUT');
    });

    it('stops with ERR_SOCKS5_ABORTED when the signal fires', async () => {
      const { port } = silent.address() as net.AddressInfo;
      const controller = new AbortController();
      silent.once('connection', () => controller.abort());
      const err = await expectError(
        socks5Connect({ proxyHost: '127.0.0.1', proxyPort: port, targetHost: 'x', targetPort: 1, timeoutMs: 5000, signal: controller.signal }),
      );
      expect(err.code).to.equal('ERR_SOCKS5_ABORTED');
    });
  });

  it('returns bytes that arrived with the reply as head', async () => {
    // A fake proxy that answers the whole handshake and a greeting from the "target" in one write.
    const fake = net.createServer((socket) => {
      socket.once('data', () => {
        socket.once('data', () => socket.end(Buffer.from([0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0, ...Buffer.from('220 hello\r\n')])));
        socket.write(Buffer.from([0x05, 0x00]));
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => fake.close(() => resolve())));
    const { port } = fake.address() as net.AddressInfo;
    const { socket, head } = await socks5Connect({ proxyHost: '127.0.0.1', proxyPort: port, targetHost: 'mail.test', targetPort: 25, timeoutMs: 5000 });
    cleanups.push(() => socket.destroy());
    expect(head.toString()).to.equal('220 hello\r\n');
  });
});

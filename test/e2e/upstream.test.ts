// Upstream proxies on the dialing side (../shared/spec/MODES.md §8.3–8.6): a provider
// (`upstreamProxy` client option) and a forward-mode server (`upstreamProxy` server option) reach
// targets through a SOCKS5 proxy with credentials and through an HTTP CONNECT proxy; failures of
// the proxy become SOCKS reply 0x04 with the proxy's error in the ConnectResponse text; UDP is
// never proxied.
import { expect } from 'chai';
import net from 'node:net';

import { LinkSocksClient } from '../../src/client/client.js';
import type { LinkSocksClientOptions } from '../../src/client/options.js';
import type { ConnectResult } from '../../src/relay/observer.js';
import { LinkSocksServer } from '../../src/server/server.js';
import type { LinkSocksServerOptions } from '../../src/server/options.js';
import { Socks5Server } from '../../src/socks5/server.js';
import { startHttpConnectProxy } from '../helpers/http-proxy.js';
import type { HttpConnectProxy } from '../helpers/http-proxy.js';
import { LOCALHOST, startEchoServer, startUdpEchoServer, waitForEvent } from '../helpers/net.js';
import type { EchoServer, UdpEchoServer } from '../helpers/net.js';
import { makePayload } from '../helpers/payload.js';
import { socksConnectReply, socksEcho, SocksReply } from '../helpers/socks.js';
import { SocksUdpAssociation } from '../helpers/socks-udp.js';
import { waitForDefined } from '../helpers/wait.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { startUdpUpstreamProxy } from '../helpers/udp-upstream-proxy.js';

type ConnectEvent = ConnectResult & { mode: string };

/** A SOCKS5 proxy with credentials standing in for a corporate one: it dials directly and pipes. */
class CredentialedSocksProxy {
  connects = 0;
  readonly server: Socks5Server;
  private readonly sockets = new Set<net.Socket>();

  constructor() {
    this.server = new Socks5Server({ host: LOCALHOST, port: 0, credentials: { username: 'u', password: 'p' } }, (req) => {
      if (req.command !== 'connect') {
        req.reject(0x07);
        return;
      }
      const target = net.connect({ host: req.host, port: req.port, allowHalfOpen: true });
      this.track(target);
      target.once('error', () => req.reject(0x05));
      target.once('connect', () => {
        this.connects += 1;
        const socket = req.accept();
        this.track(socket);
        if (req.head.length > 0) target.write(req.head);
        socket.pipe(target).pipe(socket);
        socket.once('close', () => target.destroy());
        target.once('close', () => socket.destroy());
        socket.resume();
      });
    });
  }

  get port(): number {
    return this.server.address()!.port;
  }

  url(user = 'u', pass = 'p'): string {
    return `socks5://${user}:${pass}@${LOCALHOST}:${this.port}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await this.server.close();
  }

  private track(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.sockets.delete(socket));
  }
}

function httpUrl(proxy: HttpConnectProxy, auth = 'u:p'): string {
  return `http://${auth}@${LOCALHOST}:${proxy.port}`;
}

describe('upstream proxies on the dialing side', function () {
  checkNoLeaksAfterSuite();
  let echo: EchoServer;
  let udpEcho: UdpEchoServer;
  let socksProxy: CredentialedSocksProxy;
  let httpProxy: HttpConnectProxy;
  const closers: Array<() => Promise<void>> = [];

  beforeEach(async function () {
    echo = await startEchoServer();
    udpEcho = await startUdpEchoServer();
    socksProxy = new CredentialedSocksProxy();
    await socksProxy.server.listen();
    httpProxy = await startHttpConnectProxy({ credentials: { username: 'u', password: 'p' } });
  });

  afterEach(async function () {
    for (const close of closers.splice(0).reverse()) await close();
    await socksProxy.close();
    await httpProxy.close();
    await echo.close();
    await udpEcho.close();
  });

  /** Reverse token + provider with `providerOptions`; returns the server's SOCKS port for the token. */
  async function startProvider(providerOptions: LinkSocksClientOptions): Promise<{ server: LinkSocksServer; provider: LinkSocksClient; socksPort: number }> {
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0, providerWaitMs: 2000 });
    server.addReverseToken({ token: 'prov', port: 0 });
    await server.start();
    closers.push(() => server.close());
    const provider = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'prov', reverse: true, ...providerOptions });
    closers.push(() => provider.close());
    await provider.start();
    const address = await waitForDefined(() => server.socksAddress('prov'), 'reverse SOCKS listener');
    return { server, provider, socksPort: address.port };
  }

  /** Forward token on a server with `serverOptions`, and a forward client; returns the client's SOCKS port. */
  async function startForward(serverOptions: LinkSocksServerOptions): Promise<{ server: LinkSocksServer; client: LinkSocksClient; socksPort: number }> {
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0, ...serverOptions });
    server.addForwardToken('fwd');
    await server.start();
    closers.push(() => server.close());
    const client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'fwd', socksPort: 0 });
    closers.push(() => client.close());
    await client.start();
    return { server, client, socksPort: client.socksAddress()!.port };
  }

  describe('provider side (client option upstreamProxy)', function () {
    it('reaches the target through a SOCKS5 proxy with credentials', async function () {
      const { socksPort } = await startProvider({ upstreamProxy: socksProxy.url() });
      const payload = makePayload(512 * 1024, 81);
      expect((await socksEcho(socksPort, echo.port, payload)).equals(payload)).to.equal(true);
      expect(socksProxy.connects).to.equal(1);
    });

    it('reaches the target through an HTTP CONNECT proxy with Basic credentials', async function () {
      const { socksPort } = await startProvider({ upstreamProxy: httpUrl(httpProxy) });
      const payload = makePayload(512 * 1024, 82);
      expect((await socksEcho(socksPort, echo.port, payload)).equals(payload)).to.equal(true);
      expect(httpProxy.tunnels).to.equal(1);
      expect(httpProxy.targets).to.deep.equal([`${LOCALHOST}:${echo.port}`]);
    });

    it('wrong SOCKS5 credentials: reply 0x04, and both sides report "socks5 handshake error: …"', async function () {
      const { server, provider, socksPort } = await startProvider({ upstreamProxy: socksProxy.url('u', 'wrong') });
      const socksSide = waitForEvent<[ConnectEvent]>(server, 'connect');
      const dialingSide = waitForEvent<[ConnectEvent]>(provider, 'connect');
      expect(await socksConnectReply(socksPort, LOCALHOST, echo.port)).to.equal(SocksReply.hostUnreachable);
      const [dialed] = await dialingSide;
      const [answered] = await socksSide;
      expect(dialed.ok).to.equal(false);
      expect(dialed.error).to.equal('socks5 handshake error: authentication failed');
      // The provider's text travels in the ConnectResponse and is what the server reports.
      expect(answered).to.include({ ok: false, error: dialed.error, reply: SocksReply.hostUnreachable });
      expect(socksProxy.connects).to.equal(0);
    });

    it('an HTTP proxy answering 407 is a failure: reply 0x04, "HTTP CONNECT failed: HTTP/1.1 407 …"', async function () {
      const { server, socksPort } = await startProvider({ upstreamProxy: httpUrl(httpProxy, 'u:wrong') });
      const socksSide = waitForEvent<[ConnectEvent]>(server, 'connect');
      expect(await socksConnectReply(socksPort, LOCALHOST, echo.port)).to.equal(SocksReply.hostUnreachable);
      const [answered] = await socksSide;
      expect(answered.ok).to.equal(false);
      expect(answered.error).to.equal('HTTP CONNECT failed: HTTP/1.1 407 Proxy Authentication Required');
      httpProxy.setMode('407'); // even with the right credentials a 407 is a failure
      const { socksPort: second } = await startProviderWithCorrectHttpAuth();
      expect(await socksConnectReply(second, LOCALHOST, echo.port)).to.equal(SocksReply.hostUnreachable);
      expect(httpProxy.tunnels).to.equal(0);
    });

    it('an HTTP proxy that never answers: the dial times out with 0x04 (connectTimeoutMs bounds the exchange)', async function () {
      httpProxy.setMode('hang');
      const { server, socksPort } = await startProvider({ upstreamProxy: httpUrl(httpProxy), connectTimeoutMs: 400 });
      const socksSide = waitForEvent<[ConnectEvent]>(server, 'connect');
      expect(await socksConnectReply(socksPort, LOCALHOST, echo.port)).to.equal(SocksReply.hostUnreachable);
      expect((await socksSide)[0].error).to.match(/timeout/);
    });

    it('UDP goes direct with an HTTP upstream (HTTP proxies cannot carry UDP)', async function () {
      const { socksPort } = await startProvider({ upstreamProxy: httpUrl(httpProxy) });
      const assoc = await SocksUdpAssociation.open({ proxyPort: socksPort });
      closers.push(() => assoc.close());
      assoc.send(LOCALHOST, udpEcho.port, Buffer.from('direct udp'));
      const reply = await assoc.next();
      expect(reply.data.toString()).to.equal('direct udp');
      expect(reply).to.include({ host: LOCALHOST, port: udpEcho.port });
      expect(udpEcho.datagrams).to.equal(1);
      expect(httpProxy.tunnels).to.equal(0);
    });

    it('UDP goes through a SOCKS5 upstream with its own UDP ASSOCIATE (Go sends UDP direct)', async function () {
      const udpProxy = await startUdpUpstreamProxy();
      closers.push(() => udpProxy.close());
      const { socksPort } = await startProvider({ upstreamProxy: `socks5://${LOCALHOST}:${udpProxy.port}` });
      const assoc = await SocksUdpAssociation.open({ proxyPort: socksPort });
      closers.push(() => assoc.close());
      assoc.send(LOCALHOST, udpEcho.port, Buffer.from('proxied udp'));
      const reply = await assoc.next();
      expect(reply.data.toString()).to.equal('proxied udp');
      expect(udpProxy.datagramsOut).to.equal(1);
      expect(udpProxy.datagramsBack).to.equal(1);
    });

    async function startProviderWithCorrectHttpAuth(): Promise<{ socksPort: number }> {
      const server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
      server.addReverseToken({ token: 'prov2', port: 0 });
      await server.start();
      closers.push(() => server.close());
      const provider = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'prov2', reverse: true, upstreamProxy: httpUrl(httpProxy) });
      closers.push(() => provider.close());
      await provider.start();
      return { socksPort: (await waitForDefined(() => server.socksAddress('prov2'), 'second reverse listener')).port };
    }
  });

  describe('server side (server option upstreamProxy, forward mode)', function () {
    it('reaches the target through a SOCKS5 proxy with credentials', async function () {
      const { socksPort } = await startForward({ upstreamProxy: socksProxy.url() });
      const payload = makePayload(512 * 1024, 83);
      expect((await socksEcho(socksPort, echo.port, payload)).equals(payload)).to.equal(true);
      expect(socksProxy.connects).to.equal(1);
    });

    it('reaches the target through an HTTP CONNECT proxy', async function () {
      const { socksPort } = await startForward({ upstreamProxy: httpUrl(httpProxy) });
      const payload = makePayload(256 * 1024, 84);
      expect((await socksEcho(socksPort, echo.port, payload)).equals(payload)).to.equal(true);
      expect(httpProxy.tunnels).to.equal(1);
    });

    it('wrong SOCKS5 credentials: the forward client answers 0x04 and reports the server\'s error text', async function () {
      const { server, client, socksPort } = await startForward({ upstreamProxy: socksProxy.url('nobody', 'p') });
      const dialingSide = waitForEvent<[ConnectEvent]>(server, 'connect');
      const socksSide = waitForEvent<[ConnectEvent]>(client, 'connect');
      expect(await socksConnectReply(socksPort, LOCALHOST, echo.port)).to.equal(SocksReply.hostUnreachable);
      const [dialed] = await dialingSide;
      expect(dialed.error).to.match(/^socks5 handshake error: /);
      expect((await socksSide)[0]).to.include({ ok: false, error: dialed.error });
    });

    it('UDP goes direct from the server while an upstream is set', async function () {
      const { socksPort } = await startForward({ upstreamProxy: httpUrl(httpProxy) });
      const assoc = await SocksUdpAssociation.open({ proxyPort: socksPort });
      closers.push(() => assoc.close());
      assoc.send(LOCALHOST, udpEcho.port, Buffer.from('udp, no proxy'));
      expect((await assoc.next()).data.toString()).to.equal('udp, no proxy');
      expect(httpProxy.targets).to.deep.equal([]);
    });
  });
});

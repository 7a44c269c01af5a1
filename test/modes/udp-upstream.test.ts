import { expect } from 'chai';
import net from 'node:net';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { Socks5Server } from '../../src/socks5/server.js';
import { freePort, startEchoServer, startUdpEchoServer, LOCALHOST } from '../helpers/net.js';
import type { EchoServer, UdpEchoServer } from '../helpers/net.js';
import { makePayload } from '../helpers/payload.js';
import { socksEcho, socksUdpRoundTrip } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

describe('UDP ASSOCIATE through the tunnel', function () {
  checkNoLeaksAfterSuite();
  let udpEcho: UdpEchoServer;
  let server: LinkSocksServer;
  const clients: LinkSocksClient[] = [];

  beforeEach(async function () {
    udpEcho = await startUdpEchoServer();
    server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
    await server.start();
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.close();
    await udpEcho.close();
  });

  it('forward mode: a datagram goes to the target and the answer comes back', async function () {
    server.addForwardToken('f');
    const client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'f', socksPort: 0 });
    clients.push(client);
    await client.start();
    const answer = await socksUdpRoundTrip(client.socksAddress()!.port, udpEcho.port, Buffer.from('dns-ish query'));
    expect(answer.toString()).to.equal('dns-ish query');
  });

  it('reverse mode: the server is the SOCKS side, the provider sends the datagram', async function () {
    const socksPort = await freePort();
    server.addReverseToken({ token: 'r', port: socksPort });
    const provider = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'r', reverse: true });
    clients.push(provider);
    await provider.start();
    const answer = await socksUdpRoundTrip(socksPort, udpEcho.port, Buffer.from([1, 2, 3, 4]));
    expect([...answer]).to.deep.equal([1, 2, 3, 4]);
  });
});

describe('upstream proxy on the dialing side', function () {
  checkNoLeaksAfterSuite();
  let echo: EchoServer;
  let upstream: Socks5Server;
  let upstreamRequests = 0;
  const closers: Array<() => Promise<void>> = [];

  beforeEach(async function () {
    echo = await startEchoServer();
    upstreamRequests = 0;
    // A plain SOCKS5 proxy standing in for a corporate one: it dials directly.
    upstream = new Socks5Server({ host: LOCALHOST, port: 0 }, (req) => {
      if (req.command !== 'connect') return req.reject(0x07);
      upstreamRequests += 1;
      const target = net.connect({ host: req.host, port: req.port, allowHalfOpen: true });
      target.once('error', () => req.reject(0x05));
      target.once('connect', () => {
        const socket = req.accept();
        if (req.head.length > 0) target.write(req.head);
        socket.pipe(target).pipe(socket);
        socket.on('error', () => target.destroy());
        target.on('error', () => socket.destroy());
        socket.resume();
      });
    });
    await upstream.listen();
  });

  afterEach(async function () {
    for (const close of closers.splice(0).reverse()) await close();
    await upstream.close();
    await echo.close();
  });

  it('forward mode: the server dials targets through a SOCKS5 upstream', async function () {
    const server = new LinkSocksServer({
      host: LOCALHOST,
      port: 0,
      upstreamProxy: `socks5://${LOCALHOST}:${upstream.address()!.port}`,
    });
    server.addForwardToken('t');
    await server.start();
    closers.push(() => server.close());
    const client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 't', socksPort: 0 });
    await client.start();
    closers.push(() => client.close());
    const payload = makePayload(512 * 1024, 4);
    expect((await socksEcho(client.socksAddress()!.port, echo.port, payload)).equals(payload)).to.equal(true);
    expect(upstreamRequests).to.equal(1);
  });

  it('refuses an unsupported upstream scheme with Go\'s message', function () {
    expect(() => new LinkSocksServer({ upstreamProxy: 'ftp://x:1' })).to.throw(
      'unsupported proxy scheme: ftp (supported: socks5, http)',
    );
    // A provider fails the same way at construction, not later inside a connection handler
    // (where the error used to surface as an unhandled rejection).
    expect(() => new LinkSocksClient({ reverse: true, upstreamProxy: 'ftp://x:1' })).to.throw(
      'unsupported proxy scheme: ftp (supported: socks5, http)',
    );
  });
});

import { expect } from 'chai';
import type net from 'node:net';
import { LinkSocksClient } from '../../src/client/client.js';
import { AuthError } from '../../src/client/errors.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { endingOf, freePort, startEchoServer, startHttpServer, LOCALHOST, withTimeout } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { makePayload, sendAndCollect, collectBytes } from '../helpers/payload.js';
import { curlViaSocks, socksConnect, socksConnectReply, socksEcho, SocksReply } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

describe('forward mode (TS server, TS client)', function () {
  checkNoLeaksAfterSuite();
  let server: LinkSocksServer;
  let client: LinkSocksClient;
  let echo: EchoServer;
  let socksPort: number;
  const sockets: net.Socket[] = [];

  beforeEach(async function () {
    echo = await startEchoServer();
    server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
    server.addForwardToken('forward-token');
    await server.start();
    client = new LinkSocksClient({
      url: `ws://${LOCALHOST}:${server.address().port}`,
      token: 'forward-token',
      socksPort: 0,
    });
    await client.start();
    socksPort = client.socksAddress()!.port;
  });

  afterEach(async function () {
    for (const s of sockets.splice(0)) s.destroy();
    await client.close();
    await server.close();
    await echo.close();
  });

  it('relays 8 MiB both ways through SOCKS5 with identical hashes', async function () {
    const payload = makePayload(8 * 1024 * 1024, 7);
    const echoed = await socksEcho(socksPort, echo.port, payload);
    expect(echoed.equals(payload)).to.equal(true);
  });

  it('carries 20 parallel channels over one WebSocket', async function () {
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => socksEcho(socksPort, echo.port, makePayload(256 * 1024, i + 1))),
    );
    results.forEach((r, i) => expect(r.equals(makePayload(256 * 1024, i + 1))).to.equal(true));
  });

  it('passes a half-close on: the client sends, ends, and still reads the whole answer and EOF', async function () {
    const socket = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: echo.port });
    sockets.push(socket);
    const payload = makePayload(300 * 1024, 3);
    await sendAndCollect(socket, payload, { endAfterWrite: true });
    await withTimeout(new Promise((resolve) => socket.once('end', resolve)), 5000, 'EOF after half-close');
  });

  it('answers 0x04 when the target refuses the connection', async function () {
    const closed = await freePort();
    expect(await socksConnectReply(socksPort, LOCALHOST, closed)).to.equal(SocksReply.hostUnreachable);
  });

  it('serves curl with a domain name (socks5h)', async function () {
    const http = await startHttpServer('hello through linksocks\n');
    try {
      const { stdout } = await curlViaSocks(socksPort, `http://localhost:${http.port}/`);
      expect(stdout).to.equal('hello through linksocks\n');
    } finally {
      await http.close();
    }
  });

  it('closes the SOCKS socket at once when the target closes', async function () {
    const socket = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: echo.port });
    sockets.push(socket);
    await sendAndCollect(socket, Buffer.from('ping'));
    const start = Date.now();
    socket.end();
    await withTimeout(new Promise((resolve) => socket.once('close', resolve)), 3000, 'SOCKS socket close');
    expect(Date.now() - start).to.be.below(3000);
  });

  it('tears down SOCKS channels when the server goes away (reset: the stream did not end)', async function () {
    const socket = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: echo.port });
    sockets.push(socket);
    await sendAndCollect(socket, Buffer.from('x'));
    const ending = endingOf(socket);
    await server.close();
    expect(await withTimeout(ending, 5000, 'SOCKS socket closed after server loss')).to.equal('ECONNRESET');
    expect(client.counters.channelsOpen).to.equal(0);
  });

  it('reads back what a target sends first (server-speaks-first protocols)', async function () {
    const socket = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: echo.port });
    sockets.push(socket);
    socket.write('abc');
    const got = await collectBytes(socket, 3);
    expect(got.toString()).to.equal('abc');
  });
});

describe('forward mode authentication', function () {
  checkNoLeaksAfterSuite();
  let server: LinkSocksServer;

  beforeEach(async function () {
    server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
    server.addForwardToken('right');
    await server.start();
  });

  afterEach(async function () {
    await server.close();
  });

  for (const path of ['', '/socket/']) {
    it(`rejects a wrong token with AuthError (${path ? 'Auth message' : 'query'} form)`, async function () {
      const client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}${path}`, token: 'wrong', socksPort: 0 });
      try {
        const err = await client.start().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).to.be.instanceOf(AuthError);
        expect((err as AuthError).message).to.equal('authentication failed: invalid token');
        expect((err as AuthError).serverReason).to.equal('invalid token');
      } finally {
        await client.close();
      }
    });

    it(`accepts the right token (${path ? 'Auth message' : 'query'} form)`, async function () {
      const echo = await startEchoServer();
      const client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}${path}`, token: 'right', socksPort: 0 });
      try {
        await client.start();
        const out = await socksEcho(client.socksAddress()!.port, echo.port, Buffer.from('hello'));
        expect(out.toString()).to.equal('hello');
      } finally {
        await client.close();
        await echo.close();
      }
    });
  }
});

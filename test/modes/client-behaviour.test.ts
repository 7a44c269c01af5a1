import { expect } from 'chai';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { AuthError, LinkSocksClientError } from '../../src/client/errors.js';
import type { ClientCloseEvent } from '../../src/client/events.js';
import { LinkSocksError } from '../../src/errors.js';
import { endingOf, freePort, startEchoServer, LOCALHOST, withTimeout } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { makePayload } from '../helpers/payload.js';
import { socksConnect, socksConnectReply, socksEcho, SocksReply } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

describe('client behaviour', function () {
  checkNoLeaksAfterSuite();
  let echo: EchoServer;
  const servers: LinkSocksServer[] = [];
  const clients: LinkSocksClient[] = [];

  async function startServer(port = 0): Promise<LinkSocksServer> {
    const server = new LinkSocksServer({ host: LOCALHOST, port });
    server.addForwardToken('t');
    await server.start();
    servers.push(server);
    return server;
  }

  function newClient(options: ConstructorParameters<typeof LinkSocksClient>[0]): LinkSocksClient {
    const client = new LinkSocksClient({ token: 't', socksPort: 0, ...options });
    clients.push(client);
    return client;
  }

  beforeEach(async function () {
    echo = await startEchoServer();
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await echo.close();
  });

  it('reconnects after the server restarts and serves new connections', async function () {
    const port = await freePort();
    const first = await startServer(port);
    const client = newClient({ url: `ws://${LOCALHOST}:${port}`, reconnect: true, reconnectDelayMs: 50 });
    await client.start();
    const socksPort = client.socksAddress()!.port;
    expect((await socksEcho(socksPort, echo.port, Buffer.from('one'))).toString()).to.equal('one');
    const down = new Promise((resolve) => client.once('disconnected', resolve));
    await first.close();
    await withTimeout(down, 3000, 'client noticed the server going away');
    const up = new Promise((resolve) => client.once('connected', resolve));
    await startServer(port);
    await withTimeout(up, 10_000, 'client reconnected');
    expect((await socksEcho(socksPort, echo.port, Buffer.from('two'))).toString()).to.equal('two');
  });

  it('stops with an error when the connection drops and reconnect is off', async function () {
    const server = await startServer();
    const client = newClient({ url: `ws://${LOCALHOST}:${server.address().port}` });
    await client.start();
    const failed = new Promise<Error>((resolve) => client.once('error', resolve));
    await server.close();
    const err = await withTimeout(failed, 3000, 'client error');
    expect(err.message).to.equal('connection to server lost');
  });

  it('keeps the system error as cause when the server port is closed', async function () {
    const port = await freePort();
    const client = newClient({ url: `ws://${LOCALHOST}:${port}` });
    const err = (await client.start().then(
      () => expect.fail('start resolved against a closed port'),
      (e: unknown) => e,
    )) as LinkSocksClientError;
    expect(err).to.be.instanceOf(LinkSocksError);
    expect(err.code).to.equal('ERR_LINKSOCKS_CONNECTION');
    expect((err.cause as NodeJS.ErrnoException).code).to.equal('ECONNREFUSED');
  });

  it('without an error listener, a client that lost its server (reconnect off) still reports close once', async function () {
    const server = await startServer();
    const client = newClient({ url: `ws://${LOCALHOST}:${server.address().port}` });
    await client.start();
    const closes: ClientCloseEvent[] = [];
    client.on('close', (event) => closes.push(event));
    expect(client.listenerCount('error')).to.equal(0);
    await server.close();
    const event = await withTimeout(client.closed, 3000, 'client.closed');
    expect(event.error).to.be.instanceOf(LinkSocksClientError);
    expect(event.error!.code).to.equal('ERR_LINKSOCKS_CONNECTION');
    expect(event.error!.message).to.equal('connection to server lost');
    await client.close(); // a later close() changes nothing
    expect(closes).to.deep.equal([event]);
  });

  it('reports an authentication failure without retry through close and closed', async function () {
    const server = await startServer();
    const client = newClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'wrong', reconnect: true });
    const closeEvent = new Promise<ClientCloseEvent>((resolve) => client.once('close', resolve));
    const started = await client.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(started).to.be.instanceOf(AuthError);
    const event = await withTimeout(closeEvent, 3000, 'close');
    expect(event.error).to.equal(started);
    expect(await client.closed).to.equal(event);
  });

  it('emits close once with no error after close(), however often it is called', async function () {
    const server = await startServer();
    const client = newClient({ url: `ws://${LOCALHOST}:${server.address().port}` });
    await client.start();
    let closes = 0;
    client.on('close', () => (closes += 1));
    await Promise.all([client.close(), client.close()]);
    await client.close();
    expect(closes).to.equal(1);
    expect(await client.closed).to.deep.equal({ error: undefined });
  });

  it('spreads channels over -T threads round robin', async function () {
    const server = await startServer();
    const client = newClient({ url: `ws://${LOCALHOST}:${server.address().port}`, threads: 3 });
    await client.start();
    await withTimeout(
      (async () => {
        while (server.status().tokens[0]!.clients_count < 3) await new Promise((r) => client.once('connected', r));
      })(),
      5000,
      'three threads authenticated',
    );
    const before = server.counters.channelsOpened;
    for (let i = 0; i < 6; i += 1) await socksEcho(client.socksAddress()!.port, echo.port, Buffer.from('x'));
    expect(server.counters.channelsOpened - before).to.equal(6);
    expect(server.status().tokens[0]!.clients_count).to.equal(3);
  });

  it('with socksNoWait opens the SOCKS port at once and refuses with 0x03 while no server is up', async function () {
    const port = await freePort();
    const client = newClient({ url: `ws://${LOCALHOST}:${port}`, socksNoWait: true, reconnect: true, reconnectDelayMs: 50, linkWaitMs: 200 });
    await client.start();
    expect(await socksConnectReply(client.socksAddress()!.port, LOCALHOST, echo.port)).to.equal(SocksReply.networkUnreachable);
    const up = new Promise((resolve) => client.once('connected', resolve));
    await startServer(port);
    await withTimeout(up, 10_000, 'client connected once the server is up');
    expect((await socksEcho(client.socksAddress()!.port, echo.port, Buffer.from('late'))).toString()).to.equal('late');
  });

  it('fast open relays data sent right after the SOCKS reply', async function () {
    const server = await startServer();
    const client = newClient({ url: `ws://${LOCALHOST}:${server.address().port}`, fastOpen: true });
    await client.start();
    const payload = makePayload(1024 * 1024, 21);
    expect((await socksEcho(client.socksAddress()!.port, echo.port, payload)).equals(payload)).to.equal(true);
  });

  it('fast open resets the SOCKS socket when the target refuses', async function () {
    const server = await startServer();
    const client = newClient({ url: `ws://${LOCALHOST}:${server.address().port}`, fastOpen: true });
    await client.start();
    // The success reply comes first (fast open); the dial failure then resets the connection, so
    // the client cannot take it for a target that answered and closed.
    const socket = await socksConnect({ proxyPort: client.socksAddress()!.port, host: LOCALHOST, port: await freePort() });
    try {
      expect(await withTimeout(endingOf(socket), 3000, 'SOCKS socket closed')).to.equal('ECONNRESET');
    } finally {
      socket.destroy();
    }
    expect(client.counters.channelsOpen).to.equal(0);
  });
});

import { expect } from 'chai';
import net from 'node:net';
import { LinkSocksClient } from '../../src/client/client.js';
import type { LinkSocksClientOptions } from '../../src/client/options.js';
import { AuthError } from '../../src/client/errors.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { endingOf, freePort, startEchoServer, LOCALHOST, withTimeout } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { makePayload, sha256 } from '../helpers/payload.js';
import { socksConnect, socksEcho } from '../helpers/socks.js';
import { startCutProxy, type CutProxy } from '../reliability/rig.js';
import { NewestServer } from '../../interop/newest/peers.js';
import { waitForValue } from '../helpers/wait.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

const MiB = 1024 * 1024;

/** Client failover: `url` as a list (CLI: `-u` repeated), each reconnect going to the next URL. */
describe('client failover across server URLs', function () {
  checkNoLeaksAfterSuite();
  let echo: EchoServer;
  const servers: LinkSocksServer[] = [];
  const clients: LinkSocksClient[] = [];
  const proxies: CutProxy[] = [];

  async function startServer(
    setup: (server: LinkSocksServer) => void,
    transportGraceMs?: number,
  ): Promise<{ server: LinkSocksServer; url: string }> {
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0, providerWaitMs: 2000, ...(transportGraceMs !== undefined && { transportGraceMs }) });
    setup(server);
    await server.start();
    servers.push(server);
    return { server, url: `ws://${LOCALHOST}:${server.address().port}` };
  }

  function newClient(options: LinkSocksClientOptions): LinkSocksClient {
    const client = new LinkSocksClient({ socksPort: 0, reconnectDelayMs: 100, ...options });
    clients.push(client);
    return client;
  }

  /** 4 MiB through the SOCKS port and back, compared by hash. */
  async function hashedEcho(socksPort: number, seed: number): Promise<void> {
    const payload = makePayload(4 * MiB, seed);
    const echoed = await socksEcho(socksPort, echo.port, payload);
    expect(sha256(echoed)).to.equal(sha256(payload));
  }

  const linksOf = (server: LinkSocksServer): number => server.clients().length;

  beforeEach(async function () {
    echo = await startEchoServer();
  });

  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await Promise.all(proxies.splice(0).map((p) => p.close()));
    await echo.close();
  });

  it('skips a first URL that is not listening and connects to the second at once', async function () {
    const dead = `ws://${LOCALHOST}:${await freePort()}`;
    const b = await startServer((s) => s.addForwardToken('t'));
    // A long backoff: reaching the second URL must not wait for it.
    const client = newClient({ token: 't', url: [dead, b.url], reconnect: true, reconnectDelayMs: 60_000 });
    const started = Date.now();
    await withTimeout(client.start(), 5000, 'client started through the second URL');
    expect(Date.now() - started).to.be.below(5000);
    expect(linksOf(b.server)).to.equal(1);
    await hashedEcho(client.socksAddress()!.port, 1);
  });

  it('without reconnect, start-up still tries each URL once, and a lost link stays fatal', async function () {
    const dead = `ws://${LOCALHOST}:${await freePort()}`;
    const b = await startServer((s) => s.addForwardToken('t'));
    const client = newClient({ token: 't', url: [dead, b.url] });
    await client.start();
    await hashedEcho(client.socksAddress()!.port, 2);
    const failed = new Promise<Error>((resolve) => client.once('error', resolve));
    await b.server.close();
    expect((await withTimeout(failed, 3000, 'client error')).message).to.equal('connection to server lost');

    const alsoDead = `ws://${LOCALHOST}:${await freePort()}`;
    const none = newClient({ token: 't', url: [dead, alsoDead] });
    const err = await none.start().then(
      () => expect.fail('start resolved with no server listening'),
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err.code).to.equal('ERR_LINKSOCKS_CONNECTION');
  });

  it('forward client: the server it uses closes, it moves to the other URL and traffic flows again', async function () {
    const a = await startServer((s) => s.addForwardToken('t'));
    const b = await startServer((s) => s.addForwardToken('t'));
    const client = newClient({ token: 't', url: [a.url, b.url], reconnect: true, reconnectDelayMs: 1000 });
    await client.start();
    expect([linksOf(a.server), linksOf(b.server)]).to.deep.equal([1, 0]);
    const socksPort = client.socksAddress()!.port;
    await hashedEcho(socksPort, 3);
    // The link lived longer than the first delay: the next URL is tried without waiting.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const closedAt = Date.now();
    await a.server.close();
    // The SOCKS request waits for the new link (linkWaitMs), so this measures server closed → bytes flowing.
    await hashedEcho(socksPort, 4);
    const failoverMs = Date.now() - closedAt;
    expect(linksOf(b.server)).to.equal(1);
    expect(failoverMs).to.be.below(5000);
    this.test!.title += ` (${failoverMs} ms)`;
  });

  it('provider: reconnects to the other server when its server closes; SOCKS through the other works', async function () {
    const portA = await freePort();
    const portB = await freePort();
    const a = await startServer((s) => s.addReverseToken({ token: 'rev', port: portA }));
    const b = await startServer((s) => s.addReverseToken({ token: 'rev', port: portB }));
    const provider = newClient({ token: 'rev', reverse: true, url: [a.url, b.url], reconnect: true, reconnectDelayMs: 1000 });
    await provider.start();
    await hashedEcho(portA, 5);
    expect(linksOf(b.server)).to.equal(0);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const closedAt = Date.now();
    await a.server.close();
    // B's SOCKS port opens once the provider is there; a SOCKS request meanwhile waits for it.
    await waitForValue(() => linksOf(b.server), 1, 'provider on the second server', 5000);
    await hashedEcho(portB, 6);
    const failoverMs = Date.now() - closedAt;
    expect(failoverMs).to.be.below(5000);
    this.test!.title += ` (${failoverMs} ms)`;
  });

  it('goes round the list: back to the first URL when the second one closes too', async function () {
    const a = await startServer((s) => s.addForwardToken('t'));
    const b = await startServer((s) => s.addForwardToken('t'));
    const aPort = a.server.address().port;
    const client = newClient({ token: 't', url: [a.url, b.url], reconnect: true, reconnectDelayMs: 100 });
    await client.start();
    await a.server.close();
    await waitForValue(() => linksOf(b.server), 1, 'client on the second server', 5000);
    servers.splice(servers.indexOf(a.server), 1);
    // The first server comes back on its port; the second goes away.
    const again = new LinkSocksServer({ host: LOCALHOST, port: aPort });
    again.addForwardToken('t');
    await again.start();
    servers.push(again);
    await b.server.close();
    await waitForValue(() => linksOf(again), 1, 'client back on the first URL', 5000);
    await hashedEcho(client.socksAddress()!.port, 7);
  });

  it('spreads no threads: every -T thread starts at the first URL', async function () {
    const a = await startServer((s) => s.addForwardToken('t'));
    const b = await startServer((s) => s.addForwardToken('t'));
    const client = newClient({ token: 't', url: [a.url, b.url], threads: 3, reconnect: true });
    await client.start();
    await waitForValue(() => linksOf(a.server), 3, 'three threads on the first server', 5000);
    expect(linksOf(b.server)).to.equal(0);
  });

  it('an authentication failure on one URL stops the client unless retryAuth, which moves on to the next', async function () {
    const a = await startServer((s) => s.addForwardToken('other'));
    const b = await startServer((s) => s.addForwardToken('t'));
    const strict = newClient({ token: 't', url: [a.url, b.url], reconnect: true });
    const refused = await strict.start().then(
      () => expect.fail('start resolved after an authentication failure'),
      (e: unknown) => e,
    );
    expect(refused).to.be.instanceOf(AuthError);
    expect(linksOf(b.server)).to.equal(0);

    const retrying = newClient({ token: 't', url: [a.url, b.url], reconnect: true, retryAuth: true });
    await withTimeout(retrying.start(), 5000, 'started on the second URL');
    expect(linksOf(b.server)).to.equal(1);
    await hashedEcho(retrying.socksAddress()!.port, 8);
  });

  /** An open SOCKS channel that has carried a round trip, with its ending watched. */
  async function openChannel(socksPort: number): Promise<{ ending: Promise<string> }> {
    const socket = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: echo.port });
    socket.on('error', () => undefined);
    socket.write('ping');
    await new Promise((resolve) => socket.once('data', resolve));
    const ending = endingOf(socket);
    void ending.then(() => socket.destroy());
    return { ending };
  }

  it('transport grace, provider: a channel held by the lost server is not resumed elsewhere; it expires there', async function () {
    const graceMs = 1500;
    const portA = await freePort();
    const portB = await freePort();
    const a = await startServer((s) => s.addReverseToken({ token: 'rev', port: portA }), graceMs);
    const b = await startServer((s) => s.addReverseToken({ token: 'rev', port: portB }), graceMs);
    const toA = await startCutProxy(a.server.address().port);
    proxies.push(toA);
    const provider = newClient({ token: 'rev', reverse: true, url: [toA.url, b.url], reconnect: true, transportGraceMs: graceMs });
    await provider.start();
    const channel = await openChannel(portA);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const cutAt = Date.now();
    toA.cut();
    await waitForValue(() => linksOf(b.server), 1, 'provider on the second server', 5000);
    await hashedEcho(portB, 9);
    // A waits for the provider to come back to it, then gives up after the grace.
    const how = await withTimeout(channel.ending, graceMs + 5000, 'channel through A ended');
    expect(Date.now() - cutAt).to.be.at.least(graceMs - 200);
    expect(how).to.be.oneOf(['ECONNRESET', 'end', 'close']);
    await waitForValue(() => provider.counters.channelsOpen, 0, 'provider released the expired channel', graceMs + 3000);
  });

  it('transport grace, forward: after moving to another server, channels of the old one end at once (that server does not hold them)', async function () {
    const graceMs = 20_000;
    const a = await startServer((s) => s.addForwardToken('t'), graceMs);
    const b = await startServer((s) => s.addForwardToken('t'), graceMs);
    const toA = await startCutProxy(a.server.address().port);
    proxies.push(toA);
    const client = newClient({ token: 't', url: [toA.url, b.url], reconnect: true, transportGraceMs: graceMs });
    await client.start();
    const channel = await openChannel(client.socksAddress()!.port);
    await new Promise((resolve) => setTimeout(resolve, 150));
    const cutAt = Date.now();
    toA.cut();
    await withTimeout(channel.ending, 5000, 'channel refused by the second server');
    expect(Date.now() - cutAt).to.be.below(graceMs);
    expect(linksOf(b.server)).to.equal(1);
    await hashedEcho(client.socksAddress()!.port, 10);
  });

  /** A TCP listener that accepts and drops every connection at once, noting when. */
  async function startDropper(): Promise<{ url: string; hits: number[]; close(): Promise<void> }> {
    const hits: number[] = [];
    const server = net.createServer((socket) => {
      hits.push(Date.now());
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve));
    const { port } = server.address() as net.AddressInfo;
    return { url: `ws://${LOCALHOST}:${port}`, hits, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  it('tries the URLs of a round back to back, then waits the backoff before the next round', async function () {
    const a = await startDropper();
    const b = await startDropper();
    try {
      const client = newClient({ token: 't', url: [a.url, b.url], reconnect: true, reconnectDelayMs: 400 });
      const started = client.start().catch(() => undefined);
      await waitForValue(() => a.hits.length >= 2 && b.hits.length >= 2, true, 'two rounds', 10_000);
      const [a1, a2] = a.hits as [number, number];
      const [b1, b2] = b.hits as [number, number];
      expect(a1).to.be.at.most(b1);
      // Same round: no wait between A and B.
      expect(b1 - a1).to.be.below(350);
      // Next round after the backoff: 400 ms × 1.5, ±20 % jitter.
      expect(a2 - b1).to.be.at.least(450);
      expect(b2 - a2).to.be.below(350);
      await client.close();
      await started;
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('a link lost soon after it came up waits the first delay before moving on (no busy loop)', async function () {
    const a = await startServer((s) => s.addForwardToken('t'));
    const b = await startServer((s) => s.addForwardToken('t'));
    const client = newClient({ token: 't', url: [a.url, b.url], reconnect: true, reconnectDelayMs: 600 });
    await client.start();
    const onB = new Promise<number>((resolve) => b.server.once('client-connected', () => resolve(Date.now())));
    const kickedAt = Date.now();
    expect(a.server.kickClient('t', a.server.tokenClients('t')![0]!.id)).to.equal(true);
    // 600 ms with ±20 % jitter.
    expect((await withTimeout(onB, 5000, 'client on the second server')) - kickedAt).to.be.at.least(450);
  });

  it('a token a server assigned is sent back to that server only, not to the other URLs', async function () {
    const newest = await NewestServer.start({ reverseToken: 'rev', assignProviderToken: 'assigned-by-newest' });
    try {
      const portB = await freePort();
      const b = await startServer((s) => s.addReverseToken({ token: 'rev', port: portB }));
      const provider = newClient({ token: 'rev', reverse: true, url: [newest.url, b.url], reconnect: true });
      await provider.start();
      expect(newest.authenticated).to.deep.equal(['rev']);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      newest.dropProviders();
      // The second server never heard of the assigned token: it gets the configured one.
      await waitForValue(() => linksOf(b.server), 1, 'provider on the second server', 5000);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await b.server.close();
      await waitForValue(() => newest.authenticated.length, 2, 'provider back on the first server', 5000);
      expect(newest.authenticated).to.deep.equal(['rev', 'assigned-by-newest']);
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await newest.close();
    }
  });
});

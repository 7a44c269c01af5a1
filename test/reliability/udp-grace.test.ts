// Transport grace for UDP associations between linksocks-ts peers: a WebSocket cut (TCP destroyed,
// no close frame) under a SOCKS5 UDP association; the association, its relay socket and the
// dialing side's socket wait, are re-bound on the reconnected link, and datagrams keep flowing on
// the same association from the same source port. Without a peer's grace announcement, or past the
// grace, the association ends as before.
import { expect } from 'chai';
import dgram from 'node:dgram';
import { LinkSocksClient } from '../../src/client/client.js';
import type { LinkSocksClientOptions } from '../../src/client/options.js';
import { LinkSocksServer } from '../../src/server/server.js';
import type { LinkSocksServerOptions } from '../../src/server/options.js';
import { endingOf, freePort, LOCALHOST, waitForEvent, withTimeout } from '../helpers/net.js';
import { SocksUdpAssociation } from '../helpers/socks-udp.js';
import { assertNoLeakedHandles, snapshotResources } from '../helpers/leaks.js';
import { startCutProxy, waitUntil } from './rig.js';
import { UDP_GRACE_QUEUE_DATAGRAMS } from '../../src/relay/udp-grace-queue.js';
import type { CutProxy } from './rig.js';

/** A UDP echo server that remembers every source port it saw (the dialing side's socket). */
interface SourceEcho {
  readonly port: number;
  readonly sources: Set<number>;
  close(): Promise<void>;
}

async function startSourceEcho(): Promise<SourceEcho> {
  const socket = dgram.createSocket('udp4');
  const sources = new Set<number>();
  socket.on('message', (msg, rinfo) => {
    sources.add(rinfo.port);
    socket.send(msg, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, LOCALHOST, resolve));
  return {
    port: socket.address().port,
    sources,
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}

class Scene {
  readonly servers: LinkSocksServer[] = [];
  readonly clients: LinkSocksClient[] = [];
  readonly proxies: CutProxy[] = [];
  readonly associations: SocksUdpAssociation[] = [];
  echo!: SourceEcho;
  private readonly handles = snapshotResources();

  async server(options: LinkSocksServerOptions = {}): Promise<LinkSocksServer> {
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0, ...options });
    this.servers.push(server);
    await server.start();
    return server;
  }

  async client(options: LinkSocksClientOptions): Promise<LinkSocksClient> {
    const client = new LinkSocksClient({ socksPort: 0, reconnect: true, reconnectDelayMs: 50, ...options });
    this.clients.push(client);
    await client.start();
    return client;
  }

  async proxy(server: LinkSocksServer): Promise<CutProxy> {
    const proxy = await startCutProxy(server.address().port);
    this.proxies.push(proxy);
    return proxy;
  }

  async associate(port: number): Promise<SocksUdpAssociation> {
    const association = await SocksUdpAssociation.open({ proxyPort: port });
    this.associations.push(association);
    return association;
  }

  async close(): Promise<void> {
    await Promise.all(this.associations.map((a) => a.close()));
    await Promise.all(this.clients.map((c) => c.close()));
    await Promise.all(this.servers.map((s) => s.close()));
    await Promise.all(this.proxies.map((p) => p.close()));
    await this.echo.close();
    await assertNoLeakedHandles(this.handles, { graceMs: 3000 });
  }
}

/** Replies until one carries `text` (earlier, late or duplicate ones are skipped). */
async function replyWith(association: SocksUdpAssociation, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no UDP reply "${text}" within ${timeoutMs} ms`);
    const reply = await association.next(left);
    if (reply.data.toString() === text) return;
  }
}

/** One datagram there and back. */
async function roundTrip(association: SocksUdpAssociation, echo: SourceEcho, text: string): Promise<void> {
  const answered = replyWith(association, text, 5000);
  association.send(LOCALHOST, echo.port, Buffer.from(text));
  await answered;
}

/**
 * Sends `text-n` every 100 ms until one comes back: where a relay in the middle drops datagrams
 * while one of its links is away, the first ones after a reconnect may be lost, as UDP may.
 */
async function roundTripEventually(association: SocksUdpAssociation, echo: SourceEcho, text: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let n = 0; Date.now() < deadline; n += 1) {
    association.send(LOCALHOST, echo.port, Buffer.from(`${text}-${n}`));
    try {
      const reply = await association.next(100);
      if (reply.data.toString().startsWith(`${text}-`)) return;
    } catch {
      // nothing yet: send again
    }
  }
  throw new Error(`no UDP reply "${text}-*" within ${timeoutMs} ms`);
}

describe('reliability: transport grace for UDP associations (linksocks-ts on both sides)', function () {
  this.timeout(60_000);
  let scene: Scene;

  beforeEach(async function () {
    scene = new Scene();
    scene.echo = await startSourceEcho();
  });

  afterEach(async function () {
    await scene.close();
  });

  it('forward: the association survives a cut WebSocket; datagrams sent meanwhile are delivered after the resume', async function () {
    const server = await scene.server();
    server.addForwardToken('ugrace-fwd');
    const proxy = await scene.proxy(server);
    const client = await scene.client({ url: proxy.url, token: 'ugrace-fwd' });
    const association = await scene.associate(client.socksAddress()!.port);
    await roundTrip(association, scene.echo, 'before');
    let controlClosed = false;
    association.control.once('close', () => (controlClosed = true));

    const down = waitForEvent(client, 'disconnected', 5000);
    const up = waitForEvent(client, 'connected', 10_000);
    proxy.cut();
    await down;
    // The link is down: these wait in the client's bounded queue.
    const during = (async () => {
      await replyWith(association, 'during-1', 10_000);
      await replyWith(association, 'during-2', 10_000);
    })();
    association.send(LOCALHOST, scene.echo.port, Buffer.from('during-1'));
    association.send(LOCALHOST, scene.echo.port, Buffer.from('during-2'));
    await up;
    await during; // in order
    await roundTrip(association, scene.echo, 'after');

    expect(controlClosed, 'SOCKS control connection still open').to.equal(false);
    expect([...scene.echo.sources], 'one source port at the target side').to.have.length(1);
    expect(client.counters.udpAssociationsOpen).to.equal(1);
    expect(server.counters.udpSocketsOpen).to.equal(1);
    expect(client.counters.udpDatagramsDropped).to.equal(0);
  });

  it('reverse: an association on the server\'s SOCKS port survives a cut provider link', async function () {
    const server = await scene.server();
    const port = await freePort();
    server.addReverseToken({ token: 'ugrace-rev', port });
    const proxy = await scene.proxy(server);
    const provider = await scene.client({ url: proxy.url, token: 'ugrace-rev', reverse: true });
    const association = await scene.associate(port);
    await roundTrip(association, scene.echo, 'before');
    let controlClosed = false;
    association.control.once('close', () => (controlClosed = true));

    const down = waitForEvent(provider, 'disconnected', 5000);
    const up = waitForEvent(provider, 'connected', 10_000);
    proxy.cut();
    await down;
    const during = replyWith(association, 'during', 10_000);
    association.send(LOCALHOST, scene.echo.port, Buffer.from('during'));
    await up;
    await during;
    await roundTrip(association, scene.echo, 'after');

    expect(controlClosed, 'SOCKS control connection still open').to.equal(false);
    expect([...scene.echo.sources], 'one source port at the target side').to.have.length(1);
    expect(provider.counters.udpSocketsOpen).to.equal(1);
  });

  it('forward: past the queue bound the oldest datagrams are dropped, and counted', async function () {
    const server = await scene.server();
    server.addForwardToken('ugrace-bound');
    const proxy = await scene.proxy(server);
    const client = await scene.client({ url: proxy.url, token: 'ugrace-bound', reconnectDelayMs: 1000 });
    const association = await scene.associate(client.socksAddress()!.port);
    await roundTrip(association, scene.echo, 'before');
    const down = waitForEvent(client, 'disconnected', 5000);
    const up = waitForEvent(client, 'connected', 10_000);
    proxy.cut();
    await down;
    const total = UDP_GRACE_QUEUE_DATAGRAMS + 44;
    for (let i = 0; i < total; i += 1) {
      association.send(LOCALHOST, scene.echo.port, Buffer.from(`q-${i}`));
      // Let the relay socket read them: a burst could overflow its kernel buffer before the queue.
      if (i % 25 === 24) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await waitUntil(() => client.counters.udpDatagramsDropped === 44, 5000, 'the 44 oldest counted as dropped');
    await up;
    const replies = await association.collect(UDP_GRACE_QUEUE_DATAGRAMS, 2000);
    const indexes = replies.map((r) => Number(r.data.toString().slice(2)));
    expect(indexes.length).to.be.greaterThan(0);
    expect(Math.min(...indexes), 'only the newest were kept').to.be.at.least(44);
    expect(client.counters.udpDatagramsDropped).to.equal(44);
  });

  it('a resume the peer refuses (its own grace ran out first) resets the control connection', async function () {
    const server = await scene.server({ transportGraceMs: 300 });
    server.addForwardToken('ugrace-refused');
    const proxy = await scene.proxy(server);
    const client = await scene.client({ url: proxy.url, token: 'ugrace-refused', reconnectDelayMs: 1000 });
    const association = await scene.associate(client.socksAddress()!.port);
    await roundTrip(association, scene.echo, 'before');
    const ending = endingOf(association.control);
    proxy.cut();
    await waitUntil(() => server.counters.udpSocketsOpen === 0, 3000, 'the server expired its side');
    expect(await withTimeout(ending, 5000, 'control connection reset after the refused resume')).to.equal('ECONNRESET');
    expect(server.counters.resumesRefused).to.equal(1);
    expect(client.counters.udpAssociationsOpen).to.equal(0);
  });

  it('shutting down during the grace releases the waiting association and sockets at once', async function () {
    const server = await scene.server();
    server.addForwardToken('ugrace-stop');
    const proxy = await scene.proxy(server);
    const client = await scene.client({ url: proxy.url, token: 'ugrace-stop', reconnectDelayMs: 5000 });
    const association = await scene.associate(client.socksAddress()!.port);
    await roundTrip(association, scene.echo, 'before');
    const down = waitForEvent(client, 'disconnected', 5000);
    proxy.cut();
    await down;
    const ending = endingOf(association.control);
    await client.close();
    expect(await withTimeout(ending, 2000, 'control connection reset on shutdown')).to.equal('ECONNRESET');
    expect(client.counters.udpAssociationsOpen).to.equal(0);
    await waitUntil(() => server.counters.udpSocketsOpen === 1, 2000, 'the server still waits for the client');
    await server.close();
    expect(server.counters.udpSocketsOpen).to.equal(0);
  });

  for (const cutWhich of ['connector', 'provider', 'both'] as const) {
    it(`agent: an association survives a cut ${cutWhich === 'both' ? 'connector and provider' : cutWhich} link (the server keeps the route)`, async function () {
      const server = await scene.server();
      server.addReverseToken({ token: 'ugrace-prov', port: await freePort() });
      server.addConnectorToken('ugrace-conn', 'ugrace-prov');
      const providerPipe = await scene.proxy(server);
      const connectorPipe = await scene.proxy(server);
      const provider = await scene.client({ url: providerPipe.url, token: 'ugrace-prov', reverse: true });
      const connector = await scene.client({ url: connectorPipe.url, token: 'ugrace-conn' });
      const association = await scene.associate(connector.socksAddress()!.port);
      await roundTrip(association, scene.echo, 'before');
      let controlClosed = false;
      association.control.once('close', () => (controlClosed = true));

      const back: Array<Promise<unknown>> = [];
      if (cutWhich !== 'provider') back.push(waitForEvent(connector, 'connected', 10_000));
      if (cutWhich !== 'connector') back.push(waitForEvent(provider, 'connected', 10_000));
      if (cutWhich !== 'provider') connectorPipe.cut();
      if (cutWhich !== 'connector') providerPipe.cut();
      await Promise.all(back);
      await roundTripEventually(association, scene.echo, 'after');

      expect(controlClosed, 'SOCKS control connection still open').to.equal(false);
      expect([...scene.echo.sources], 'one source port at the target side').to.have.length(1);
      expect(provider.counters.udpSocketsOpen).to.equal(1);
    });
  }

  it('a peer without the grace announcement (v1.7.15 style): the association ends at once, as before', async function () {
    // The server does not announce grace (as a Go server): the client must not try to resume.
    const server = await scene.server({ transportGraceMs: 0 });
    server.addForwardToken('ugrace-old');
    const proxy = await scene.proxy(server);
    const client = await scene.client({ url: proxy.url, token: 'ugrace-old', reconnectDelayMs: 5000 });
    const association = await scene.associate(client.socksAddress()!.port);
    await roundTrip(association, scene.echo, 'before');
    const ending = endingOf(association.control);
    proxy.cut();
    await withTimeout(ending, 2000, 'SOCKS control connection closed at once');
    await waitUntil(() => client.counters.udpAssociationsOpen === 0 && server.counters.udpSocketsOpen === 0, 2000, 'both sides released');
  });

  it('reverse with a provider without the announcement: the server\'s association ends at once', async function () {
    const server = await scene.server();
    const port = await freePort();
    server.addReverseToken({ token: 'ugrace-old-rev', port });
    const proxy = await scene.proxy(server);
    const provider = await scene.client({ url: proxy.url, token: 'ugrace-old-rev', reverse: true, transportGraceMs: 0, reconnectDelayMs: 5000 });
    const association = await scene.associate(port);
    await roundTrip(association, scene.echo, 'before');
    const ending = endingOf(association.control);
    proxy.cut();
    await withTimeout(ending, 2000, 'SOCKS control connection closed at once');
    await waitUntil(() => server.counters.udpAssociationsOpen === 0 && provider.counters.udpSocketsOpen === 0, 2000, 'both sides released');
  });

  it('expiry: with grace 1 s and no reconnect in time, the control connection is reset and both sides release their sockets', async function () {
    const server = await scene.server({ transportGraceMs: 1000 });
    server.addForwardToken('ugrace-exp');
    const proxy = await scene.proxy(server);
    const client = await scene.client({ url: proxy.url, token: 'ugrace-exp', transportGraceMs: 1000, reconnectDelayMs: 5000 });
    const association = await scene.associate(client.socksAddress()!.port);
    await roundTrip(association, scene.echo, 'before');
    const ending = endingOf(association.control);
    const started = Date.now();
    proxy.cut();
    expect(await withTimeout(ending, 5000, 'control connection ended after the grace')).to.equal('ECONNRESET');
    expect(Date.now() - started).to.be.at.least(800);
    await waitUntil(() => client.counters.udpAssociationsOpen === 0 && server.counters.udpSocketsOpen === 0, 3000, 'both sides released');
    expect(client.counters.channelsOpen).to.equal(0);
  });
});

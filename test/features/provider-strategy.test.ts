import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type net from 'node:net';
import { LinkSocksClient } from '../../src/client/client.js';
import { parseServerFlags } from '../../src/cli/parse-server.js';
import type { Link } from '../../src/relay/link.js';
import { ProviderHealth } from '../../src/server/provider-health.js';
import { ProviderPool } from '../../src/server/provider-pool.js';
import type { ProviderStrategy } from '../../src/server/provider-strategy.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { freePort, LOCALHOST, startEchoServer, type EchoServer } from '../helpers/net.js';
import { sendAndCollect } from '../helpers/payload.js';
import { socksConnect } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { waitForValue } from '../helpers/wait.js';
import { RawPeer } from '../reliability/rig.js';
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { attachProviderMetrics } from '../../src/metrics/provider-metrics.js';
import { RelayCounters } from '../../src/relay/counters.js';
import { sha256Hex } from '../../src/util/secrets.js';

interface Rig {
  server: LinkSocksServer;
  echo: EchoServer;
  url: string;
  socksPort: number;
  providers: LinkSocksClient[];
}

async function startRig(strategy: ProviderStrategy, providers: number, extra: ConstructorParameters<typeof LinkSocksServer>[0] = {}): Promise<Rig> {
  const echo = await startEchoServer();
  const server = new LinkSocksServer({ host: LOCALHOST, port: 0, providerWaitMs: 2000, ...extra });
  await server.start();
  const socksPort = await freePort();
  server.addReverseToken({ token: 'rev', port: socksPort, username: 'alice', password: 'pw', strategy });
  const rig: Rig = { server, echo, url: `ws://${LOCALHOST}:${server.address().port}`, socksPort, providers: [] };
  for (let i = 0; i < providers; i += 1) await addProvider(rig);
  return rig;
}

async function addProvider(rig: Rig): Promise<LinkSocksClient> {
  const client = new LinkSocksClient({ url: rig.url, token: 'rev', reverse: true });
  rig.providers.push(client);
  await client.start();
  return client;
}

async function stopRig(rig: Rig): Promise<void> {
  await Promise.all(rig.providers.map((p) => p.close()));
  await rig.server.close();
  await rig.echo.close();
}

/** Opens a tunnel as `user`, checks one round trip, and returns it open. */
async function tunnel(rig: Rig, user = 'alice'): Promise<net.Socket> {
  const socket = await socksConnect({ proxyPort: rig.socksPort, host: LOCALHOST, port: rig.echo.port, userId: user, password: 'pw' });
  const back = await sendAndCollect(socket, Buffer.from('ping'));
  expect(back.toString()).to.equal('ping');
  return socket;
}

/** Which provider (index) carried the next connection: the one whose channel count went up. */
async function carriedBy(rig: Rig, user: string): Promise<number> {
  const before = rig.providers.map((p) => p.counters.channelsOpened);
  const socket = await tunnel(rig, user);
  socket.destroy();
  const after = rig.providers.map((p) => p.counters.channelsOpened);
  const moved = after.map((n, i) => n - before[i]!).flatMap((d, i) => (d > 0 ? [i] : []));
  expect(moved, 'exactly one provider carried it').to.have.length(1);
  return moved[0]!;
}

describe('provider selection strategies', function () {
  checkNoLeaksAfterSuite();
  let rig: Rig | undefined;
  const held: net.Socket[] = [];

  afterEach(async function () {
    for (const s of held.splice(0)) s.destroy();
    if (rig) await stopRig(rig);
    rig = undefined;
  });

  it('least-channels: with long-held channels on one provider, new channels go to the other two', async function () {
    rig = await startRig('least-channels', 1);
    for (let i = 0; i < 4; i += 1) held.push(await tunnel(rig));
    await addProvider(rig);
    await addProvider(rig);
    for (let i = 0; i < 6; i += 1) held.push(await tunnel(rig));
    const opened = rig.providers.map((p) => p.counters.channelsOpened);
    expect(opened).to.deep.equal([4, 3, 3]);
  });

  it('sticky: every connection of a session leaves through one provider; when it goes, the session moves', async function () {
    rig = await startRig('sticky', 3);
    const s1 = new Set<number>();
    const s2 = new Set<number>();
    for (let i = 0; i < 6; i += 1) {
      s1.add(await carriedBy(rig, 'alice-session-one'));
      s2.add(await carriedBy(rig, 'alice-session-two'));
    }
    expect(s1.size).to.equal(1);
    expect(s2.size).to.equal(1);
    const [first] = [...s1];
    await rig.providers[first!]!.close();
    await waitForValue(() => rig!.server.status().tokens[0]!.clients_count, 2, 'provider gone');
    const moved = new Set<number>();
    for (let i = 0; i < 4; i += 1) moved.add(await carriedBy(rig, 'alice-session-one'));
    expect(moved.size).to.equal(1);
    expect([...moved][0]).to.not.equal(first);
    // A wrong password with a session tag is still refused.
    const refused = await socksConnect({ proxyPort: rig.socksPort, host: LOCALHOST, port: rig.echo.port, userId: 'alice-session-one', password: 'no' }).then(
      (s) => (s.destroy(), false),
      () => true,
    );
    expect(refused).to.equal(true);
  });

  it('random: spreads 60 connections over 3 providers', async function () {
    rig = await startRig('random', 3);
    const counts = [0, 0, 0];
    for (let i = 0; i < 60; i += 1) counts[await carriedBy(rig, 'alice')]! += 1;
    // Each share is Binomial(60, 1/3); below 5 happens with probability ~1e-5.
    for (const n of counts) expect(n).to.be.at.least(5);
  });

  it('round-robin stays the default and shows no strategy in status; a set one is shown', async function () {
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
    server.addReverseToken({ token: 'plain', port: await freePort() });
    server.addReverseToken({ token: 'st', port: await freePort(), strategy: 'sticky' });
    const entries = server.status().tokens;
    expect(entries.find((e) => e.token === 'plain')).to.not.have.property('strategy');
    expect(entries.find((e) => e.token === 'st')!.strategy).to.equal('sticky');
    expect(() => server.addReverseToken({ token: 'bad', strategy: 'fastest' as ProviderStrategy })).to.throw(/^strategy: unknown value "fastest"/);
    await server.close();
  });

  it('API: POST /api/token takes strategy for reverse tokens, answers 400 naming the field otherwise; the state file keeps it', async function () {
    const dir = mkdtempSync(path.join(tmpdir(), 'linksocks-strategy-'));
    const stateFile = path.join(dir, 'state.json');
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0, apiKey: 'k', stateFile });
    await server.start();
    const post = async (body: object): Promise<{ status: number; text: string }> => {
      const res = await fetch(`http://${LOCALHOST}:${server.address().port}/api/token`, {
        method: 'POST',
        headers: { 'X-API-Key': 'k', 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, text: await res.text() };
    };
    try {
      const ok = await post({ type: 'reverse', token: 'r1', strategy: 'least-channels' });
      expect(ok.status).to.equal(200);
      const bad = await post({ type: 'reverse', token: 'r2', strategy: 'fastest' });
      expect(bad.status).to.equal(400);
      expect(JSON.parse(bad.text).error).to.match(/^strategy: unknown value "fastest"/);
      const notString = await post({ type: 'reverse', token: 'r3', strategy: 3 });
      expect(notString.status).to.equal(400);
      expect(JSON.parse(notString.text).error).to.match(/^strategy:/);
      const forward = await post({ type: 'forward', token: 'f1', strategy: 'random' });
      expect(forward.status).to.equal(400);
      expect(JSON.parse(forward.text).error).to.match(/^strategy:/);
      expect(server.store.has('r2')).to.equal(false);
      expect(server.store.has('f1')).to.equal(false);
    } finally {
      await server.close();
    }
    const again = new LinkSocksServer({ host: LOCALHOST, port: 0, stateFile });
    expect(again.status().tokens.find((e) => e.token === 'r1')!.strategy).to.equal('least-channels');
    await again.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('CLI: --strategy is checked and passed on', function () {
    expect(parseServerFlags({ reverse: true, strategy: 'random' }, {}).strategy).to.equal('random');
    expect(() => parseServerFlags({ reverse: true, strategy: 'nope' }, {})).to.throw(/--strategy: unknown value "nope"/);
  });
});

/** Just what the pool looks at. */
function fakeLink(id: number, channels = 0): Link {
  return { id, isClosed: false, channels: { size: channels } } as unknown as Link;
}

describe('passive provider health', function () {
  checkNoLeaksAfterSuite();

  it('ejects after 3 unanswered Connects in a row, for 10 s doubling to 5 min, and lets it back by itself', function () {
    let now = 1_000_000;
    const changes: string[] = [];
    const health = new ProviderHealth({ now: () => now, onChange: (id, ejected, ms) => changes.push(`${id}:${ejected}:${ms}`) });
    const pool = new ProviderPool({ health });
    const a = fakeLink(1);
    const b = fakeLink(2);
    pool.add(a);
    pool.add(b);
    health.failed(1);
    health.failed(1);
    health.succeeded(1); // an answer (even a target's refusal) resets the run
    health.failed(1);
    health.failed(1);
    expect(health.isEjected(1)).to.equal(false);
    health.failed(1);
    expect(health.isEjected(1)).to.equal(true);
    expect(changes).to.deep.equal(['1:true:10000']);
    for (let i = 0; i < 4; i += 1) expect(pool.next()).to.equal(b);
    now += 9_999;
    expect(pool.next()).to.equal(b);
    expect(pool.next()).to.equal(b);
    now += 1;
    const picked = [pool.next(), pool.next()];
    expect(picked).to.include(a);
    expect(changes.at(-1)).to.equal('1:false:0');
    // Failing again doubles the back-off, up to 5 min.
    const backoffs: number[] = [];
    for (let round = 0; round < 7; round += 1) {
      for (let i = 0; i < 3; i += 1) health.failed(1);
      backoffs.push(Number(changes.at(-1)!.split(':')[2]));
      now += backoffs.at(-1)!;
      expect(health.isAvailable(1)).to.equal(true);
    }
    expect(backoffs).to.deep.equal([20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
  });

  it('caps provider label sets: beyond the limit, providers share the label other', async function () {
    const source = Object.assign(new EventEmitter(), { counters: new RelayCounters() });
    const registry = new Registry();
    attachProviderMetrics(source, registry, 2);
    for (let id = 1; id <= 5; id += 1) source.emit('provider-health', { token: 't', linkId: id, ejected: true, backoffMs: 1 });
    const text = await registry.metrics();
    const series = text.split('\n').filter((l) => l.startsWith('linksocks_provider_ejections_total{'));
    expect(series).to.have.length(3);
    expect(series).to.include('linksocks_provider_ejections_total{token="other",provider="other"} 3');
  });

  it('with every provider ejected, still uses the one ejected longest ago', function () {
    let now = 0;
    const health = new ProviderHealth({ now: () => now, failuresToEject: 1 });
    const pool = new ProviderPool({ health });
    const links = [fakeLink(1), fakeLink(2), fakeLink(3)];
    for (const l of links) pool.add(l);
    health.failed(2);
    now += 1;
    health.failed(3);
    now += 1;
    health.failed(1);
    expect(pool.next()).to.equal(links[1]);
    expect(pool.next({ session: 'x' })).to.equal(links[1]);
  });

  it('least-channels and sticky skip an ejected provider', function () {
    const health = new ProviderHealth({ failuresToEject: 1 });
    let strategy: ProviderStrategy = 'least-channels';
    const pool = new ProviderPool({ health, strategy: () => strategy });
    const idle = fakeLink(1, 0);
    const busy = fakeLink(2, 5);
    pool.add(idle);
    pool.add(busy);
    expect(pool.next()).to.equal(idle);
    health.failed(1);
    expect(pool.next()).to.equal(busy);
    strategy = 'sticky';
    expect(pool.next({ session: 's' })).to.equal(busy);
  });

  it('a provider that never answers Connects is ejected, and comes back after the back-off', async function () {
    this.timeout(30_000);
    const echo = await startEchoServer();
    const server = new LinkSocksServer({
      host: LOCALHOST,
      port: 0,
      providerConnectTimeoutMs: 300,
      providerHealth: { failuresToEject: 2, baseBackoffMs: 1500 },
      metrics: true,
    });
    await server.start();
    const socksPort = await freePort();
    server.addReverseToken({ token: 'rev', port: socksPort });
    const events: string[] = [];
    server.on('provider-health', (e) => events.push(e.ejected ? 'ejected' : 'back'));
    const silent = await RawPeer.connect(server.address().port, 'rev', true);
    const good = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'rev', reverse: true });
    await good.start();
    const connectsTo = (): number => silent.received.filter((m) => m.type === 'connect').length;
    const attempt = async (): Promise<boolean> => {
      try {
        const s = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: echo.port, timeoutMs: 5000 });
        s.destroy();
        return true;
      } catch {
        return false;
      }
    };
    try {
      // Round robin alternates until the silent one has left 2 Connects unanswered.
      let failures = 0;
      while (failures < 2) if (!(await attempt())) failures += 1;
      expect(events).to.deep.equal(['ejected']);
      const seen = connectsTo();
      const ejectedAt = Date.now();
      for (let i = 0; i < 6; i += 1) expect(await attempt()).to.equal(true);
      if (Date.now() - ejectedAt < 1500) expect(connectsTo()).to.equal(seen);
      await new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, 1600 - (Date.now() - ejectedAt))));
      await attempt();
      await attempt();
      expect(connectsTo()).to.be.greaterThan(seen);
      expect(events).to.deep.equal(['ejected', 'back']);
      const text = await server.metricsRegistry!.metrics();
      const token = sha256Hex('rev').slice(0, 8);
      expect(text).to.match(new RegExp(`linksocks_provider_ejections_total\\{token="${token}",provider="\\d+"\\} 1`));
      // 2 before the ejection, and the probe after the back-off may have gone to it too.
      expect(text).to.match(new RegExp(`linksocks_provider_connects_total\\{token="${token}",provider="\\d+",result="unanswered"\\} [23]`));
      expect(text).to.match(new RegExp(`linksocks_provider_connects_total\\{token="${token}",provider="\\d+",result="ok"\\} \\d+`));
    } finally {
      await silent.terminate();
      await good.close();
      await server.close();
      await echo.close();
    }
  });
});

// LinkSocksServer with `cluster: { url }` against a real redis-server: joins at start, announces
// its bound address, sums client counts over instances in status(), exposes cluster gauges,
// stays registered during a drain and withdraws on close, and leaves nothing running behind it.
import { expect } from 'chai';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { LinkSocksClient } from '../../src/client/client.js';
import { ClusterError, ClusterRedis } from '../../src/cluster/redis.js';
import { silentLogger } from '../../src/log.js';
import { LinkSocksServer } from '../../src/server/server.js';
import type { LinkSocksServerOptions } from '../../src/server/options.js';
import { assertNoLeakedHandles, snapshotResources, type ResourceSnapshot } from '../helpers/leaks.js';
import { freePort, LOCALHOST, startEchoServer } from '../helpers/net.js';
import { socksConnect } from '../helpers/socks.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { waitForValue } from '../helpers/wait.js';

function memoryLogger(): { logger: pino.Logger; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'trace' }, sink), text: () => chunks.join('') };
}

/**
 * The same forward token on every instance: through the shared token store when the server has
 * one (async token methods, added once, waited for everywhere), else added to each instance.
 */
async function addEverywhere(servers: LinkSocksServer[], token: string): Promise<void> {
  type Shared = { addForwardTokenAsync?: (token: string) => Promise<string> };
  const first = servers[0]! as LinkSocksServer & Shared;
  if (typeof first.addForwardTokenAsync === 'function') {
    await first.addForwardTokenAsync(token);
    for (const s of servers) await waitForValue(() => s.status().tokens.some((t) => t.token === token), true, 'token shared');
    return;
  }
  for (const s of servers) s.addForwardToken(token);
}

describe('cluster: server presence over Redis', function () {
  this.timeout(60_000);
  const SECRET = 'cluster-secret-do-not-log';
  const PASSWORD = 'redis-pw-do-not-log';
  let redis: TestRedis;
  let probe: ClusterRedis;
  let handles: ResourceSnapshot;
  const closers: Array<() => Promise<unknown>> = [];

  const server = (nodeId: string, extra: Partial<LinkSocksServerOptions> = {}): LinkSocksServer => {
    const s = new LinkSocksServer({
      host: LOCALHOST,
      port: 0,
      logger: silentLogger(),
      cluster: { url: redis.url, secret: SECRET, nodeId },
      ...extra,
    });
    closers.push(() => s.close());
    return s;
  };

  before(async function () {
    redis = await startRedis(this, { password: PASSWORD });
    probe = await ClusterRedis.connect(redis.url, { logger: silentLogger() });
  });
  after(async () => {
    await probe?.close();
    await redis?.stop();
  });
  beforeEach(() => {
    handles = snapshotResources();
  });
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
    await assertNoLeakedHandles(handles, { graceMs: 3000 });
  });

  it('announces at start, sums client counts over instances, withdraws on close, logs no secret', async () => {
    const logs = memoryLogger();
    const a = server('srv-a', { logger: logs.logger, metrics: true });
    const b = server('srv-b', { metrics: true });
    await a.start();
    await b.start();
    const record = JSON.parse((await probe.commands.get('linksocks:node:srv-a'))!) as { url: string };
    expect(record.url).to.equal(`ws://${LOCALHOST}:${a.address().port}`);
    await waitForValue(() => b.clusterInfo?.nodes, 2, 'b sees a');
    expect(a.clusterInfo).to.deep.equal({ nodeId: 'srv-a', nodes: 2, redisUp: true });

    await addEverywhere([a, b], 'fwd-token');
    const client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${a.address().port}`, token: 'fwd-token', socksPort: 0, logger: silentLogger() });
    closers.push(() => client.close());
    await client.start();
    const count = (s: LinkSocksServer): number | undefined => s.status().tokens.find((t) => t.token === 'fwd-token')?.clients_count;
    expect(count(a)).to.equal(1);
    await waitForValue(() => count(b), 1, 'b counts the client on a');

    const metrics = await b.metricsRegistry!.metrics();
    expect(metrics).to.match(/^linksocks_cluster_info\{node_id="srv-b"\} 1$/m);
    expect(metrics).to.match(/^linksocks_cluster_nodes 2$/m);
    expect(metrics).to.match(/^linksocks_cluster_redis_up 1$/m);

    await client.close();
    await waitForValue(() => count(b), 0, 'b sees the client leave');
    await a.close();
    expect(await probe.commands.exists(['linksocks:node:srv-a', 'linksocks:node:srv-a:counts'])).to.equal(0);
    await waitForValue(() => b.clusterInfo?.nodes, 1, 'b saw a withdraw');
    const text = logs.text();
    expect(text).to.include('cluster: instance announced');
    expect(text).to.not.include(SECRET).and.not.include(PASSWORD);
  });

  it('drain keeps the instance registered while a channel is open and withdraws when it ends', async () => {
    const echo = await startEchoServer();
    closers.push(() => echo.close());
    const a = server('srv-a');
    const b = server('srv-b');
    await a.start();
    await b.start();
    await waitForValue(() => b.clusterInfo?.nodes, 2, 'b sees a');
    await addEverywhere([a], 'drain-token');
    const client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${a.address().port}`, token: 'drain-token', socksPort: 0, logger: silentLogger() });
    closers.push(() => client.close());
    await client.start();
    const socket = await socksConnect({ proxyPort: client.socksAddress()!.port, host: LOCALHOST, port: echo.port });
    const draining = a.drain(10_000);
    await new Promise((r) => setTimeout(r, 300));
    expect(b.clusterInfo?.nodes).to.equal(2);
    expect(await probe.commands.exists('linksocks:node:srv-a')).to.equal(1);
    socket.destroy();
    await draining;
    expect(await probe.commands.exists('linksocks:node:srv-a')).to.equal(0);
    await waitForValue(() => b.clusterInfo?.nodes, 1, 'b saw a withdraw');
  });

  it('advertises loopback (with a warning) when bound to a wildcard address and no advertise URL is set', async () => {
    const logs = memoryLogger();
    const a = server('srv-w', { host: '0.0.0.0', logger: logs.logger });
    await a.start();
    const record = JSON.parse((await probe.commands.get('linksocks:node:srv-w'))!) as { url: string };
    expect(record.url).to.equal(`ws://127.0.0.1:${a.address().port}`);
    expect(logs.text()).to.include('advertising loopback');
    const given = server('srv-g', { cluster: { url: redis.url, secret: SECRET, nodeId: 'srv-g', advertiseUrl: 'wss://relay-2.example:443' } });
    await given.start();
    const other = JSON.parse((await probe.commands.get('linksocks:node:srv-g'))!) as { url: string };
    expect(other.url).to.equal('wss://relay-2.example:443');
  });

  it('rejects start() with a one-line ClusterError without the password when Redis is unreachable; nothing listens', async () => {
    const port = await freePort();
    const wsPort = await freePort();
    const s = new LinkSocksServer({
      host: LOCALHOST,
      port: wsPort,
      logger: silentLogger(),
      cluster: { url: `redis://:${PASSWORD}@127.0.0.1:${port}`, secret: SECRET },
    });
    closers.push(() => s.close());
    const err = await s.start().then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(ClusterError);
    expect((err as ClusterError).code).to.equal('ERR_CLUSTER_CONNECT');
    expect((err as Error).message).to.not.include(PASSWORD).and.not.include('\n');
    expect(() => s.address()).to.throw();
  });
  // Last: the Redis restarted inside a test is stopped with the test's processes.
  it('survives a Redis restart: keeps serving, reports redis_up 0, then writes its presence again', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const a = server('srv-a', { metrics: true });
      await a.start();
      await probe.close();
      await redis.stop();
      await waitForValue(() => a.clusterInfo?.redisUp, false, 'a saw Redis go');
      expect(await a.metricsRegistry!.metrics()).to.match(/^linksocks_cluster_redis_up 0$/m);
      expect(a.status().tokens).to.be.an('array');
      await redis.restart();
      await waitForValue(() => a.clusterInfo?.redisUp, true, 'a saw Redis come back', 20_000);
      probe = await ClusterRedis.connect(redis.url, { logger: silentLogger() });
      const deadline = Date.now() + 5000;
      while ((await probe.commands.exists('linksocks:node:srv-a')) !== 1) {
        if (Date.now() > deadline) throw new Error('presence not written again within 5 s');
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(await a.metricsRegistry!.metrics()).to.match(/^linksocks_cluster_redis_up 1$/m);
      expect(unhandled).to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

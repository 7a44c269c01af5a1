// RedisDirectory against a real redis-server: instances see each other's provider and client
// counts within milliseconds, a silent instance drops out within the documented bound, withdraw
// is immediate, Redis restarts (empty) are survived, and foreign data in Redis is skipped.
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { RedisDirectory } from '../../src/cluster/redis-directory.js';
import { ClusterRedis } from '../../src/cluster/redis.js';
import { silentLogger } from '../../src/log.js';
import { assertNoLeakedHandles, snapshotResources, type ResourceSnapshot } from '../helpers/leaks.js';
import { waitForEvent } from '../helpers/net.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { waitForValue } from '../helpers/wait.js';

const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex');

function memoryLogger(): { logger: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    logger: pino({ level: 'debug' }, sink),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** Simulates SIGKILL of an instance: its Redis connections vanish without a word. */
function killConnections(redis: ClusterRedis): void {
  redis.commands.destroy();
  (redis as unknown as { subscriber: { destroy(): void } }).subscriber.destroy();
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('cluster: Redis directory (presence)', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let handles: ResourceSnapshot;
  const cleanups: Array<() => Promise<unknown>> = [];

  const join = async (
    nodeId: string,
    options: { logger?: pino.Logger; refreshMs?: number; ttlMs?: number } = {},
  ): Promise<{ redis: ClusterRedis; directory: RedisDirectory }> => {
    const logger = options.logger ?? silentLogger();
    const conn = await ClusterRedis.connect(redis.url, { logger, maxReconnectDelayMs: 200 });
    const directory = new RedisDirectory(conn, {
      nodeId,
      logger,
      ...(options.refreshMs !== undefined && { refreshMs: options.refreshMs }),
      ...(options.ttlMs !== undefined && { ttlMs: options.ttlMs }),
    });
    cleanups.push(async () => {
      await directory.withdraw();
      await conn.close();
    });
    return { redis: conn, directory };
  };

  before(async function () {
    redis = await startRedis(this);
  });
  after(async () => {
    await redis?.stop();
  });
  beforeEach(async () => {
    handles = snapshotResources();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await assertNoLeakedHandles(handles, { graceMs: 3000 });
  });

  it('shows each instance the others’ provider and client counts within milliseconds', async () => {
    const a = await join('node-a');
    const b = await join('node-b');
    await a.directory.announce('ws://127.0.0.1:1001');
    await b.directory.announce('ws://127.0.0.1:1002');
    await waitForValue(() => a.directory.nodeCount(), 2, 'a sees b');
    await waitForValue(() => b.directory.nodeCount(), 2, 'b sees a');
    expect(a.directory.nodeUrl('node-b')).to.equal('ws://127.0.0.1:1002');

    const h = hashOf('token-1');
    const delays: number[] = [];
    for (let i = 1; i <= 200; i += 1) {
      const count = (i % 7) + 1;
      const seen = new Promise<void>((resolve) => {
        const onProviders = (hash: string): void => {
          if (hash === h && b.directory.remoteProviders(h)[0]?.count === count) {
            b.directory.off('providers', onProviders);
            resolve();
          }
        };
        b.directory.on('providers', onProviders);
      });
      const t0 = process.hrtime.bigint();
      a.directory.setLocalProviders(h, count); // differs from the previous one (i % 7 changes)
      await seen;
      delays.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    delays.sort((x, y) => x - y);
    const p50 = percentile(delays, 50);
    const p99 = percentile(delays, 99);
    console.log(`      provider-count propagation over 200 changes: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${delays.at(-1)!.toFixed(2)} ms`);
    expect(p99).to.be.below(250);
    expect(b.directory.remoteProviders(h)).to.deep.equal([{ nodeId: 'node-a', url: 'ws://127.0.0.1:1001', count: (200 % 7) + 1 }]);

    // Client counts are summed over the other instances; zero removes the entry.
    a.directory.setLocalClients(h, 3);
    await waitForValue(() => b.directory.remoteClients(h), 3, 'clients of a seen by b');
    a.directory.setLocalProviders(h, 0);
    await waitForValue(() => b.directory.remoteProviders(h).length, 0, 'providers gone');
    expect(a.directory.remoteClients(h)).to.equal(0);
  });

  it('a newcomer reads the state already there; tokens appear only as SHA-256 in Redis', async () => {
    const a = await join('node-a');
    const h = hashOf('secret-token');
    a.directory.setLocalProviders(h, 2);
    await a.directory.announce('ws://127.0.0.1:1001');
    const b = await join('node-b');
    await b.directory.announce('ws://127.0.0.1:1002');
    expect(b.directory.remoteProviders(h)).to.deep.equal([{ nodeId: 'node-a', url: 'ws://127.0.0.1:1001', count: 2 }]);
    const keys = await a.redis.commands.keys('*');
    expect(keys.sort()).to.deep.equal(['linksocks:node:node-a', 'linksocks:node:node-a:counts', 'linksocks:node:node-b', 'linksocks:node:node-b:counts', 'linksocks:nodes']);
    const dump = JSON.stringify(await a.redis.commands.hGetAll('linksocks:node:node-a:counts'));
    expect(dump).to.include(h).and.not.include('secret-token');
    expect(await a.redis.commands.pTTL('linksocks:node:node-a')).to.be.within(1, 3000);
  });

  it('drops an instance that stops refreshing (killed) within ttl + refresh, and fires node-gone', async () => {
    const a = await join('node-a');
    const b = await join('node-b');
    const h = hashOf('token-k');
    await a.directory.announce('ws://127.0.0.1:1001');
    await b.directory.announce('ws://127.0.0.1:1002');
    b.directory.setLocalProviders(h, 1);
    await waitForValue(() => a.directory.remoteProviders(h).length, 1, 'a sees b providers');
    const gone = waitForEvent<[string]>(a.directory, 'node-gone', 10_000);
    const providersChanged = waitForEvent<[string]>(a.directory, 'providers', 10_000);
    const killedAt = Date.now();
    killConnections(b.redis);
    const [id] = await gone;
    const elapsed = Date.now() - killedAt;
    console.log(`      killed instance dropped after ${elapsed} ms (bound ${a.directory.deadNodeBoundMs} ms)`);
    expect(id).to.equal('node-b');
    expect((await providersChanged)[0]).to.equal(h);
    expect(a.directory.remoteProviders(h)).to.deep.equal([]);
    expect(a.directory.nodeUrl('node-b')).to.equal(undefined);
    // Loaded machine: a sweep may come up to one event-loop stall late.
    expect(elapsed).to.be.below(a.directory.deadNodeBoundMs + 1500);
    expect(await a.redis.commands.sIsMember('linksocks:nodes', 'node-b')).to.equal(0);
  });

  it('a burst of changes over many ticks converges to the last counts', async () => {
    const a = await join('node-a');
    const b = await join('node-b');
    await a.directory.announce('ws://127.0.0.1:1001');
    await b.directory.announce('ws://127.0.0.1:1002');
    const hashes = Array.from({ length: 300 }, (_, i) => hashOf(`burst-${i}`));
    for (let round = 0; round < 5; round += 1) {
      for (const [i, h] of hashes.entries()) {
        b.directory.setLocalProviders(h, (i + round) % 4);
        b.directory.setLocalClients(h, round);
        if (i % 50 === 0) await new Promise((r) => setImmediate(r));
      }
    }
    const expected = (i: number): number => (i + 4) % 4;
    await waitForValue(
      () => hashes.every((h, i) => (a.directory.remoteProviders(h)[0]?.count ?? 0) === expected(i) && a.directory.remoteClients(h) === 4),
      true,
      'a converged',
    );
  });

  it('an instance restarted with the same node id replaces its old self at once', async () => {
    const a = await join('node-a');
    const old = await join('node-b');
    const h = hashOf('token-s');
    await a.directory.announce('ws://127.0.0.1:1001');
    await old.directory.announce('ws://127.0.0.1:1002');
    for (const n of [1, 2, 3, 4]) old.directory.setLocalProviders(h, n);
    await waitForValue(() => a.directory.remoteProviders(h)[0]?.count, 4, 'a sees the old b');
    killConnections(old.redis);
    const renewed = await join('node-b');
    renewed.directory.setLocalProviders(h, 1);
    await renewed.directory.announce('ws://127.0.0.1:1003');
    await waitForValue(() => a.directory.nodeUrl('node-b'), 'ws://127.0.0.1:1003', 'a sees the new b');
    expect(a.directory.remoteProviders(h)).to.deep.equal([{ nodeId: 'node-b', url: 'ws://127.0.0.1:1003', count: 1 }]);
    renewed.directory.setLocalProviders(h, 2);
    await waitForValue(() => a.directory.remoteProviders(h)[0]?.count, 2, 'a follows the new b');
  });

  it('withdraw removes the instance from the others at once', async () => {
    const a = await join('node-a');
    const b = await join('node-b');
    await a.directory.announce('ws://127.0.0.1:1001');
    await b.directory.announce('ws://127.0.0.1:1002');
    await waitForValue(() => a.directory.nodeCount(), 2, 'a sees b');
    // Announcing again only rewrites the record (one refresh timer: the leak check would see two).
    await b.directory.announce('ws://127.0.0.1:2002');
    await waitForValue(() => a.directory.nodeUrl('node-b'), 'ws://127.0.0.1:2002', 'a sees the new URL');
    const gone = waitForEvent<[string]>(a.directory, 'node-gone', 5000);
    const t0 = Date.now();
    await b.directory.withdraw();
    expect((await gone)[0]).to.equal('node-b');
    expect(Date.now() - t0).to.be.below(500);
    expect(await a.redis.commands.exists(['linksocks:node:node-b', 'linksocks:node:node-b:counts'])).to.equal(0);
    await b.directory.withdraw(); // idempotent
  });

  it('skips malformed or newer-version data in Redis, logging each once', async () => {
    const log = memoryLogger();
    const a = await join('node-a', { logger: log.logger, refreshMs: 100 });
    const c = a.redis.commands;
    await c.sAdd('linksocks:nodes', ['hand-written', 'from-the-future', 'no/such id', 'dead-one']);
    await c.set('linksocks:node:hand-written', 'not json', { expiration: { type: 'PX', value: 60_000 } });
    await c.set(
      'linksocks:node:from-the-future',
      JSON.stringify({ v: 99, url: 'ws://127.0.0.1:9', inc: 'x' }),
      { expiration: { type: 'PX', value: 60_000 } },
    );
    const b = await join('node-b');
    await b.directory.announce('ws://127.0.0.1:1002');
    // A bad field among good ones: the good ones count.
    const h = hashOf('token-m');
    await c.hSet('linksocks:node:node-b:counts', { 'p:not-a-hash': '3', [`c:${h}`]: 'many' });
    await a.directory.announce('ws://127.0.0.1:1001');
    await c.publish('linksocks:presence', '{garbage');
    await c.publish('linksocks:presence', JSON.stringify({ v: 7, n: 'node-b' }));
    b.directory.setLocalProviders(h, 1);
    await waitForValue(() => a.directory.remoteProviders(h)[0]?.count, 1, 'a still hears b');
    await new Promise((r) => setTimeout(r, 500)); // several sweeps
    expect(a.directory.nodeCount()).to.equal(2);
    expect(await c.sIsMember('linksocks:nodes', 'dead-one')).to.equal(0);
    const warnings = log.lines().filter((l) => l.level === 40).map((l) => l.msg);
    const once = (msg: string): number => warnings.filter((w) => w === msg).length;
    expect(once('cluster: malformed instance record in Redis skipped')).to.equal(1);
    expect(once('cluster: instance record of a newer version skipped')).to.equal(1);
    expect(once('cluster: malformed node id in Redis skipped')).to.equal(1);
    expect(once('cluster: malformed counts of an instance skipped')).to.equal(1);
    expect(once('cluster: malformed presence message skipped')).to.equal(1);
    expect(once('cluster: presence message of a newer version skipped')).to.equal(1);
    await c.del(['linksocks:node:hand-written', 'linksocks:node:from-the-future']);
    await c.sRem('linksocks:nodes', ['hand-written', 'from-the-future', 'no/such id']);
  });

  it('at rest, one instance with 1000 provider tokens costs a handful of Redis commands per second', async function () {
    this.timeout(40_000);
    const a = await join('node-a');
    for (let i = 0; i < 1000; i += 1) a.directory.setLocalProviders(hashOf(`token-${i}`), 1 + (i % 3));
    await a.directory.announce('ws://127.0.0.1:1001');
    expect(await a.redis.commands.hLen('linksocks:node:node-a:counts')).to.equal(1001);
    await a.redis.commands.configResetStat();
    const seconds = 10;
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const stats = await a.redis.commands.info('commandstats');
    const calls = new Map<string, number>();
    for (const match of stats.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]));
    calls.delete('info');
    calls.delete('config|resetstat');
    const total = [...calls.values()].reduce((x, y) => x + y, 0);
    console.log(`      at rest, 1000 tokens: ${(total / seconds).toFixed(1)} commands/s (${[...calls].map(([k, v]) => `${k} ${v}`).join(', ')} in ${seconds} s)`);
    // One pipelined refresh per second: 4-5 commands, whatever the number of tokens.
    expect(total / seconds).to.be.below(8);
  });

  // Last: the Redis restarted inside a test is stopped with the test's processes.
  it('keeps its view while Redis is down and writes its state again when Redis comes back empty', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const a = await join('node-a', { refreshMs: 200, ttlMs: 600 });
      const b = await join('node-b', { refreshMs: 200, ttlMs: 600 });
      const h = hashOf('token-r');
      await a.directory.announce('ws://127.0.0.1:1001');
      await b.directory.announce('ws://127.0.0.1:1002');
      a.directory.setLocalProviders(h, 4);
      await waitForValue(() => b.directory.remoteProviders(h)[0]?.count, 4, 'b sees a');

      const down = waitForEvent(b.redis, 'down', 10_000);
      const gone: string[] = [];
      b.directory.on('node-gone', (id) => gone.push(id));
      await redis.stop();
      await down;
      // Changes while down are kept locally and written later.
      a.directory.setLocalProviders(h, 5);
      a.directory.setLocalClients(h, 2);
      await new Promise((r) => setTimeout(r, 1500)); // several refresh periods without Redis
      expect(b.directory.remoteProviders(h)[0]?.count).to.equal(4);
      expect(b.directory.nodeCount()).to.equal(2);

      await redis.restart();
      await waitForValue(() => b.directory.remoteProviders(h)[0]?.count, 5, 'b sees the change made while down', 15_000);
      await waitForValue(() => b.directory.remoteClients(h), 2, 'b sees clients', 5000);
      expect(gone).to.deep.equal([]);
      const fresh = await ClusterRedis.connect(redis.url, { logger: silentLogger() });
      try {
        expect((await fresh.commands.sMembers('linksocks:nodes')).sort()).to.deep.equal(['node-a', 'node-b']);
        expect(await fresh.commands.hGet('linksocks:node:node-a:counts', `p:${h}`)).to.equal('5');
      } finally {
        await fresh.close();
      }
      expect(unhandled).to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

import { expect } from 'chai';
import { ClusterError, ClusterRedis, redactRedisUrl } from '../../src/cluster/redis.js';
import { silentLogger } from '../../src/log.js';
import { freePort } from '../helpers/net.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { waitForEvent } from '../helpers/net.js';

describe('cluster: Redis connection', function () {
  this.timeout(30_000);
  let redis: TestRedis;
  before(async function () {
    redis = await startRedis(this, { password: 's3cret-pw' });
  });
  after(async () => {
    await redis?.stop();
  });

  it('connects, runs commands and delivers pub/sub', async () => {
    const conn = await ClusterRedis.connect(redis.url, { logger: silentLogger() });
    try {
      expect(conn.isUp).to.equal(true);
      await conn.commands.set('k', 'v');
      expect(await conn.commands.get('k')).to.equal('v');
      const got = new Promise<string>((resolve) => void conn.subscribe('chan', resolve));
      await new Promise((r) => setImmediate(r));
      await conn.publish('chan', 'hello');
      expect(await got).to.equal('hello');
    } finally {
      await conn.close();
    }
  });

  it('fails at start-up with one line and no password when Redis is not there', async () => {
    const port = await freePort();
    const url = `redis://:hunter2@127.0.0.1:${port}`;
    const err = await ClusterRedis.connect(url, { logger: silentLogger(), connectTimeoutMs: 2000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(ClusterError);
    expect((err as ClusterError).code).to.equal('ERR_CLUSTER_CONNECT');
    expect((err as Error).message).to.not.include('hunter2').and.not.include('\n');
  });

  it('reports down and up again across a Redis restart; commands fail fast while down', async () => {
    const conn = await ClusterRedis.connect(redis.url, { logger: silentLogger(), maxReconnectDelayMs: 200 });
    try {
      const down = waitForEvent(conn, 'down', 10_000);
      await redis.stop();
      await down;
      expect(conn.isUp).to.equal(false);
      expect(() => conn.assertUp()).to.throw(ClusterError);
      const failed = await conn.commands.get('k').then(() => false, () => true);
      expect(failed).to.equal(true);
      const up = waitForEvent(conn, 'up', 15_000);
      await redis.restart();
      await up;
      expect(await conn.commands.ping()).to.equal('PONG');
    } finally {
      await conn.close();
    }
  });

  it('redacts the password of a URL', () => {
    expect(redactRedisUrl('redis://user:pw@h:1/0')).to.equal('redis://user:***@h:1/0');
  });
});

// Cluster mode, tokens in Redis: three LinkSocksServer instances of this process share one private
// redis-server. Tokens of every kind written through the API of one instance apply on the others
// (clients authenticate there, removals disconnect them there), ports stay unique under concurrent
// adds on different instances, Redis holds no usable secret, and a Redis outage or an empty restart
// keeps the instances serving and resyncs them.
import { expect } from 'chai';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { LinkSocksClient } from '../../src/client/client.js';
import { ClusterError } from '../../src/cluster/redis.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { silentLogger } from '../../src/log.js';
import { sha256Hex } from '../../src/util/secrets.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { freePort, startEchoServer, waitForEvent, type EchoServer } from '../helpers/net.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { socksConnect, socksEcho } from '../helpers/socks.js';
import { waitForDefined, waitForValue } from '../helpers/wait.js';
import { createClient } from 'redis';
import { parseServerFlags } from '../../src/cli/parse-server.js';
import { ApiClient } from '../../src/cli/api-client.js';
import { runServer } from '../../src/cli/run-server.js';
import { Harness } from '../cli/fakes.js';
import { TokenSeal } from '../../src/cluster/token-seal.js';
import { encodeRecord } from '../../src/cluster/token-record.js';
import { makeTokenRecord } from '../../src/server/token-store.js';
import type { ForwardTokenRecord, PlainReverseTokenRecord } from '../../src/server/tokens.js';

const KEY = 'KEY';
const SECRET = 'cluster-secret-for-tests';

/** Everything a pino logger wrote, as text. */
function memoryLogger(): { logger: pino.Logger; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), text: () => chunks.join('') };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('cluster: tokens in Redis', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let raw: ReturnType<typeof createClient>;
  checkNoLeaksAfterSuite({ graceMs: 5000 });
  /** A private Redis per nested suite: one restarted inside a test dies with that test. */
  const ownRedis = (): void => {
    before(async function () {
      redis = await startRedis(this);
    });
    after(async () => {
      await redis?.stop();
    });
  };

  let servers: LinkSocksServer[] = [];
  let clients: LinkSocksClient[] = [];
  let echo: EchoServer;

  const startServer = async (options: { logger?: pino.Logger; secret?: string } = {}): Promise<LinkSocksServer> => {
    const server = new LinkSocksServer({
      host: '127.0.0.1',
      port: 0,
      apiKey: KEY,
      cluster: { url: redis.url, secret: options.secret ?? SECRET },
      logger: options.logger ?? silentLogger(),
    });
    await server.start();
    servers.push(server);
    return server;
  };

  const api = async (server: LinkSocksServer, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> => {
    const response = await fetch(`http://127.0.0.1:${server.address().port}${path}`, {
      method,
      headers: { 'X-API-Key': KEY },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };

  const client = (server: LinkSocksServer, options: ConstructorParameters<typeof LinkSocksClient>[0]): LinkSocksClient => {
    const created = new LinkSocksClient({ url: `ws://127.0.0.1:${server.address().port}`, ...options });
    clients.push(created);
    return created;
  };

  const tokensOf = (server: LinkSocksServer): string[] => server.status().tokens.map((entry) => entry.token).sort();

  beforeEach(async () => {
    raw = createClient({ url: redis.url, socket: { reconnectStrategy: () => 100 } });
    raw.on('error', () => undefined); // Redis is stopped on purpose below
    await raw.connect();
    await raw.flushAll();
    echo = await startEchoServer();
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
    await echo.close();
    raw.destroy();
  });

  describe('with Redis up', () => {
    ownRedis();

    it('applies tokens of every kind written on one instance on every other', async () => {
      const [a, b, c] = [await startServer(), await startServer(), await startServer()];

      // Forward: added on A, a client authenticates on C.
      expect((await api(a, 'POST', '/api/token', { type: 'forward', token: 'fwd-1' })).json).to.deep.equal({ success: true, token: 'fwd-1' });
      const forward = client(c, { token: 'fwd-1', socksPort: 0 });
      await forward.start();
      const payload = Buffer.from('forward token from another instance');
      expect(await socksEcho(forward.socksAddress()!.port, echo.port, payload)).to.deep.equal(payload);

      // Reverse with SOCKS credentials and rules: added on B, its provider joins C, SOCKS on C.
      const port = await freePort();
      const added = await api(b, 'POST', '/api/token', { type: 'reverse', token: 'rev-1', port, username: 'u', password: 'p4ss', strategy: 'least-channels' });
      expect(added.json).to.deep.equal({ success: true, token: 'rev-1', port });
      // Connector for it: added on A; an agent-mode connector uses it on C (where the provider is).
      expect((await api(a, 'POST', '/api/token', { type: 'connector', token: 'con-1', reverse_token: 'rev-1' })).json)
        .to.deep.equal({ success: true, token: 'con-1' });
      for (const server of [a, b, c]) {
        const record = server.store.get('rev-1');
        expect(record).to.include({ kind: 'reverse', port, username: 'u', password: 'p4ss', strategy: 'least-channels' });
        expect(server.store.connectorsOf('rev-1')).to.deep.equal(['con-1']);
      }
      const provider = client(c, { token: 'rev-1', reverse: true });
      await provider.start();
      const connector = client(c, { token: 'con-1', socksPort: 0 });
      await connector.start();
      const viaConnector = Buffer.from('through a connector token added elsewhere');
      expect(await socksEcho(connector.socksAddress()!.port, echo.port, viaConnector)).to.deep.equal(viaConnector);

      // Autonomy: token added on C; a provider on B adds its own connector token; A knows it.
      const autonomy = await api(c, 'POST', '/api/token', { type: 'reverse', token: 'auto-1', allow_manage_connector: true });
      expect(autonomy.json).to.deep.equal({ success: true, token: 'auto-1', port: -1 });
      const autoProvider = client(b, { token: 'auto-1', reverse: true });
      await autoProvider.start();
      expect(await autoProvider.addConnector('auto-con-1')).to.equal('auto-con-1');
      for (const server of [a, b, c]) {
        const record = await waitForDefined(() => server.store.get('auto-con-1'), 'autonomy connector everywhere');
        expect(record.kind).to.equal('connector');
      }

      // Server-wide access rules set on B apply on A and C.
      expect((await api(b, 'PUT', '/api/config/access', { dial: [{ action: 'deny', host: '10.0.0.0/8' }] })).status).to.equal(200);
      for (const server of [a, c]) expect(server.accessRules().dial).to.have.length(1);

      for (const server of [a, b, c]) expect(tokensOf(server)).to.deep.equal(['auto-1', 'fwd-1', 'rev-1']);
    });

    it('removes a token on every instance and disconnects its clients there', async () => {
      const [a, b, c] = [await startServer(), await startServer(), await startServer()];
      await a.addForwardTokenAsync('fwd-gone');
      const onB = client(b, { token: 'fwd-gone', socksPort: 0 });
      const onC = client(c, { token: 'fwd-gone', socksPort: 0 });
      await Promise.all([onB.start(), onC.start()]);
      const gone = [waitForEvent(onB, 'disconnected', 5000), waitForEvent(onC, 'disconnected', 5000)];
      expect((await api(a, 'DELETE', '/api/token/fwd-gone')).json).to.deep.equal({ success: true, token: 'fwd-gone' });
      await Promise.all(gone);
      for (const server of [a, b, c]) expect(tokensOf(server)).to.deep.equal([]);

      // A reverse token takes its connector tokens with it everywhere, and frees its port.
      const { port } = await b.addReverseTokenAsync({ token: 'rev-gone' });
      await c.addConnectorTokenAsync('con-gone', 'rev-gone');
      expect(await raw.hGet('linksocks:ports', String(port))).to.equal(sha256Hex('rev-gone'));
      expect(await a.removeTokenAsync('rev-gone')).to.equal(true);
      for (const server of [a, b, c]) {
        expect(server.store.has('con-gone')).to.equal(false);
        expect(server.store.ports.isAllocated(port)).to.equal(false);
      }
      expect(await raw.hLen('linksocks:ports')).to.equal(0);
      expect(await raw.hLen('linksocks:tokens')).to.equal(0);
    });

    it('adds a connector token on one instance right after its reverse token was added on another', async () => {
      const [b, c] = [await startServer(), await startServer()];
      // No waiting between the two: c catches up with Redis instead of refusing an unknown token.
      for (let i = 0; i < 30; i += 1) {
        await b.addReverseTokenAsync({ token: `rev-race-${i}` });
        expect(await c.addConnectorTokenAsync(`con-race-${i}`, `rev-race-${i}`)).to.equal(`con-race-${i}`);
      }
    });

    it('gives 100 concurrent reverse adds spread over 3 instances 100 distinct ports', async () => {
      const trio = [await startServer(), await startServer(), await startServer()];
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => trio[i % 3]!.addReverseTokenAsync({ token: `rev-${i}` })),
      );
      const ports = new Set(results.map((r) => r.port));
      expect(ports.size).to.equal(100);
      expect(await raw.hLen('linksocks:ports')).to.equal(100);
      for (const server of trio) {
        const seen = new Set(server.status().tokens.map((entry) => entry.port));
        expect(seen).to.deep.equal(ports);
      }
      // A port asked for by two instances at once goes to one of them.
      const wanted = await freePort();
      const race = await Promise.allSettled(trio.map((server, i) => server.addReverseTokenAsync({ token: `want-${i}`, port: wanted })));
      expect(race.filter((r) => r.status === 'fulfilled')).to.have.length(1);
      for (const refusal of race.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) {
        expect((refusal.reason as Error).message).to.equal(`cannot allocate port: ${wanted}`);
      }
    });

    it('propagates changes from one instance to another fast (p99 over 200 adds and 200 removals)', async () => {
      const [a, b] = [await startServer(), await startServer()];
      const delays: number[] = [];
      for (let i = 0; i < 400; i++) {
        const adding = i < 200;
        const token = `prop-${i % 200}`;
        const seen = new Promise<void>((resolve) => {
          const event = adding ? 'added' : 'removed';
          const listener = (record: { token: string }): void => {
            if (record.token !== token) return;
            b.store.off(event, listener);
            resolve();
          };
          b.store.on(event, listener);
        });
        const started = process.hrtime.bigint();
        await (adding ? a.addForwardTokenAsync(token) : a.removeTokenAsync(token));
        await seen;
        delays.push(Number(process.hrtime.bigint() - started) / 1e6);
        expect(b.status().tokens.some((entry) => entry.token === token)).to.equal(adding);
      }
      delays.sort((x, y) => x - y);
      const p50 = percentile(delays, 50);
      const p99 = percentile(delays, 99);
      console.log(`      propagation A→B over ${delays.length} changes: median ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${delays.at(-1)!.toFixed(2)} ms`);
      // Target 250 ms on loopback; a loaded CI machine gets headroom.
      expect(p99).to.be.below(1000);
    });

    it('resyncs an instance that missed changes while only it was cut off', async () => {
      const [a, b] = [await startServer(), await startServer()];
      await a.addForwardTokenAsync('before');
      const bRedis = (b as unknown as { clusterRedis: { commands: ReturnType<typeof createClient> } }).clusterRedis;
      // Cut B's command connection from the server side; it comes back by itself, B reloads.
      const id = await bRedis.commands.clientId();
      await raw.sendCommand(['CLIENT', 'KILL', 'ID', String(id)]);
      await a.addForwardTokenAsync('during');
      await waitForValue(() => b.store.has('during'), true, 'B resynced', 10_000);
      expect(tokensOf(b)).to.deep.equal(['before', 'during']);
    });

    it('loads everything again when it sees a gap in the change numbers', async () => {
      const [a, b] = [await startServer(), await startServer()];
      await a.addForwardTokenAsync('seen');
      // A change written to Redis whose message never arrived, then a later one that did.
      const record = makeTokenRecord<ForwardTokenRecord>({ token: 'missed', kind: 'forward' });
      await raw.hSet('linksocks:tokens', record.hash, JSON.stringify(encodeRecord(record, new TokenSeal(SECRET))));
      const rev = await raw.incrBy('linksocks:rev', 2);
      const epoch = await raw.get('linksocks:epoch');
      await raw.publish('linksocks:changes', JSON.stringify({ r: rev, e: epoch, op: 'del', h: [] }));
      for (const server of [a, b]) await waitForValue(() => server.store.has('missed'), true, 'reloaded after a gap');
      expect(tokensOf(b)).to.deep.equal(['missed', 'seen']);
    });

    it('skips malformed and foreign records, logging each once', async () => {
      const { logger, text } = memoryLogger();
      const a = await startServer();
      await a.addForwardTokenAsync('good');
      await raw.hSet('linksocks:tokens', 'not-a-hash', '{oops');
      await raw.hSet('linksocks:tokens', sha256Hex('future'), JSON.stringify({ version: 2, kind: 'forward', token: 'x' }));
      await raw.hSet('linksocks:tokens', sha256Hex('plain'), JSON.stringify({ version: 1, kind: 'forward', token: 'plain' }));
      const b = await startServer({ logger });
      expect(tokensOf(b)).to.deep.equal(['good']);
      // A reload (every instance loads again) reports nothing new.
      await raw.publish('linksocks:changes', '{"op":"reload"}');
      await raw.publish('linksocks:changes', 'garbage');
      await b.addForwardTokenAsync('after');
      expect(tokensOf(b)).to.deep.equal(['after', 'good']);
      const skipped = text().split('\n').filter((line) => line.includes('record skipped'));
      // Three records and the garbage message, each once, though everything was loaded twice.
      expect(skipped).to.have.length(4);
      expect(text()).to.include('"not JSON"').and.include('unsupported version 2').and.include('cannot be opened').and.include('change message is not JSON');
      expect(text()).to.not.include('"good"');
    });

    it('refuses to start with another cluster secret, with a clear error', async () => {
      const a = await startServer();
      await a.addForwardTokenAsync('sealed');
      const err = await startServer({ secret: 'another-secret' }).then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(ClusterError);
      expect((err as ClusterError).code).to.equal('ERR_CLUSTER_AUTH');
      expect((err as Error).message).to.equal('the cluster secret does not match the one the tokens in Redis were sealed with');
    });

    it('stores no token or SOCKS password in the clear', async () => {
      const a = await startServer();
      await a.addReverseTokenAsync({ token: 'very-secret-reverse', username: 'socks-user', password: 'very-secret-password' });
      await a.addForwardTokenAsync('very-secret-forward');
      await a.addConnectorTokenAsync('very-secret-connector', 'very-secret-reverse');
      const dump: string[] = [];
      for (const key of await raw.keys('*')) {
        const type = await raw.type(key);
        if (type === 'hash') dump.push(JSON.stringify(await raw.hGetAll(key)));
        else if (type === 'set') dump.push(JSON.stringify(await raw.sMembers(key)));
        else if (type === 'zset') dump.push(JSON.stringify(await raw.zRange(key, 0, -1)));
        else dump.push(String(await raw.get(key)));
        dump.push(key);
      }
      const all = dump.join('\n');
      expect(all).to.include(sha256Hex('very-secret-forward'));
      for (const secret of ['very-secret-reverse', 'very-secret-password', 'very-secret-forward', 'very-secret-connector', SECRET]) {
        expect(all).to.not.include(secret);
      }
    });

    it('carries token policies (add, PATCH, disable) to every instance; a disable disconnects there', async () => {
      const [a, b] = [await startServer(), await startServer()];
      const added = await api(a, 'POST', '/api/token', { type: 'forward', token: 'fwd-policy', max_channels: 5 });
      expect(added.json).to.include({ success: true });
      expect(b.store.get('fwd-policy')?.policy).to.deep.equal({ maxChannels: 5 });
      const onB = client(b, { token: 'fwd-policy', socksPort: 0 });
      await onB.start();
      const patched = await api(a, 'PATCH', '/api/token/fwd-policy', { max_channels: 3 });
      expect(patched.status).to.equal(200);
      expect(b.store.get('fwd-policy')?.policy).to.deep.equal({ maxChannels: 3 });
      expect(JSON.parse((await raw.hGet('linksocks:tokens', sha256Hex('fwd-policy')))!)).to.have.deep.property('policy', { maxChannels: 3 });
      // Still connected: a settings change is applied in place.
      const payload = Buffer.from('after a policy change');
      expect(await socksEcho(onB.socksAddress()!.port, echo.port, payload)).to.deep.equal(payload);
      // A third instance loads it from Redis.
      const c = await startServer();
      expect(c.store.get('fwd-policy')?.policy).to.deep.equal({ maxChannels: 3 });
      // Disabled through C: the client on B is thrown out.
      const gone = waitForEvent(onB, 'disconnected', 5000);
      expect(await c.updateTokenAsync('fwd-policy', { disabled: true })).to.deep.equal({ maxChannels: 3, disabled: true });
      await gone;
      expect(b.store.get('fwd-policy')?.policy).to.deep.equal({ maxChannels: 3, disabled: true });
      // Unknown token: the same refusal as without a cluster.
      expect((await api(b, 'PATCH', '/api/token/nope', { max_channels: 1 })).status).to.equal(404);
    });

    it('expires a token on every instance and in Redis', async () => {
      const [a, b] = [await startServer(), await startServer()];
      await a.addForwardTokenAsync('fwd-expiring', undefined, { expiresAt: Date.now() + 1500 });
      expect(b.store.get('fwd-expiring')?.policy?.expiresAt).to.be.a('number');
      const onB = client(b, { token: 'fwd-expiring', socksPort: 0 });
      await onB.start();
      await waitForEvent(onB, 'disconnected', 10_000);
      for (const server of [a, b]) await waitForValue(() => server.store.has('fwd-expiring'), false, 'expired everywhere');
      await until(async () => (await raw.hLen('linksocks:tokens')) === 0, 'removed from Redis', 5000);
    });

    it('notices an emptied Redis at the next write, re-seeds it and does not bring back removed tokens', async () => {
      const [a, b] = [await startServer(), await startServer()];
      await a.addForwardTokenAsync('kept');
      await a.addForwardTokenAsync('removed');
      await b.removeTokenAsync('removed');
      await raw.flushAll();
      const err = await a.addForwardTokenAsync('first-after').then(() => undefined, (e: unknown) => e);
      expect((err as ClusterError).code).to.equal('ERR_CLUSTER_UNAVAILABLE');
      await until(async () => (await raw.hLen('linksocks:tokens')) === 1, 're-seeded', 10_000);
      expect(await raw.hExists('linksocks:tokens', sha256Hex('kept'))).to.equal(1);
      expect(await retryWhileUnavailable(() => a.addForwardTokenAsync('second-after'))).to.equal('second-after');
      await waitForValue(() => b.store.has('second-after'), true, 'B follows the re-seeded store');
      expect(tokensOf(b)).to.deep.equal(['kept', 'second-after']);
    });

    it('merges what it knows into a data set another instance started, except removed tokens', async () => {
      const [a, b] = [await startServer(), await startServer()];
      await a.addForwardTokenAsync('old-1');
      await a.addForwardTokenAsync('old-2');
      await b.addReverseTokenAsync({ token: 'old-rev' });
      await raw.flushAll();
      // old-2 counts as removed in the new data set that a fresh instance starts in the empty Redis
      // (its start is announced at once: A and B add what it lacks, old-2 excepted).
      await raw.zAdd('linksocks:deleted', { score: Date.now(), value: sha256Hex('old-2') });
      const c = await startServer();
      await retryWhileUnavailable(() => c.addForwardTokenAsync('new-1'));
      for (const server of [a, b, c]) {
        await waitForValue(() => tokensOf(server).join(), 'new-1,old-1,old-rev', 'merged everywhere', 10_000);
      }
      expect(await raw.hLen('linksocks:ports')).to.equal(1);
    });

    it('loads 10,000 tokens at start-up (figure printed)', async function () {
      const a = await startServer();
      const seal = new TokenSeal(SECRET);
      const batch = raw.multi();
      // Half forward, half reverse tokens with a port and SOCKS credentials each.
      for (let i = 0; i < 10_000; i++) {
        const record = i % 2 === 0
          ? makeTokenRecord<ForwardTokenRecord>({ token: `bulk-${i}`, kind: 'forward' })
          : makeTokenRecord<PlainReverseTokenRecord>({ token: `bulk-${i}`, kind: 'reverse', port: 20_000 + i, username: 'u', password: `pw-${i}` });
        batch.hSet('linksocks:tokens', record.hash, JSON.stringify(encodeRecord(record, seal)));
        if (record.kind === 'reverse') batch.hSet('linksocks:ports', String(record.port), record.hash);
      }
      await batch.exec();
      const started = Date.now();
      const b = await startServer();
      const loadMs = Date.now() - started;
      expect(b.store.list()).to.have.length(10_000);
      // An instance already running loads everything again on a reload.
      const reloadStarted = Date.now();
      await raw.publish('linksocks:changes', '{"op":"reload"}');
      await waitForValue(() => a.store.list().length, 10_000, 'A reloaded', 20_000);
      const reloadMs = Date.now() - reloadStarted;
      console.log(`      10,000 tokens: start-up load ${loadMs} ms, reload of a running instance ${reloadMs} ms`);
      expect(loadMs).to.be.below(20_000);
    });

    it('CLI: two instances started with the same -r -t token share it (one port) instead of failing', async () => {
      const run = (): { h: Harness; done: Promise<number> } => {
        const h = new Harness();
        const config = parseServerFlags({ reverse: true, token: 'cli-rev', connectorToken: 'cli-con', wsHost: '127.0.0.1', wsPort: '0' }, {});
        const serverOptions = { ...config.serverOptions, cluster: { url: redis.url, secret: SECRET } };
        return { h, done: runServer({ ...config, serverOptions }, h) };
      };
      const first = run();
      await first.h.subscribed;
      const second = run();
      await second.h.subscribed;
      const portLine = (h: Harness): string | undefined => h.goMessages().find((line) => line.includes('SOCKS5 port:'));
      expect(portLine(first.h)).to.match(/SOCKS5 port: \d+/);
      expect(portLine(second.h)).to.equal(portLine(first.h));
      expect(second.h.goMessages()).to.include('INF   Connector Token: cli-con');
      expect(await raw.hLen('linksocks:tokens')).to.equal(2);
      first.h.signal();
      second.h.signal();
      expect(await first.done).to.equal(0);
      expect(await second.done).to.equal(0);
    });

    it('points the synchronous token methods to the async ones in cluster mode', async () => {
      const a = await startServer();
      for (const call of [
        () => a.addForwardToken('t'),
        () => a.addReverseToken({}),
        () => a.addConnectorToken('c', 'r'),
        () => a.removeToken('t'),
        () => a.setAccessRules({ dial: [] }),
      ]) {
        expect(call).to.throw(ClusterError, /use \w+Async\(\) in cluster mode/);
      }
    });

  });

  describe('when Redis fails', () => {
    ownRedis();

    it('keeps serving while Redis is down (writes 503), then re-seeds an empty Redis and resyncs', async () => {
      const [a, b, c] = [await startServer(), await startServer(), await startServer()];
      await a.addForwardTokenAsync('fwd-keep');
      const { port } = await b.addReverseTokenAsync({ token: 'rev-keep', password: 'pw', username: 'u' });
      await c.removeTokenAsync('nothing'); // unknown: fine
      await a.addForwardTokenAsync('fwd-deleted');
      await a.removeTokenAsync('fwd-deleted');
      const forward = client(b, { token: 'fwd-keep', socksPort: 0 });
      await forward.start();
      const provider = client(c, { token: 'rev-keep', reverse: true });
      await provider.start();

      await redis.stop();
      await waitForValue(() => a.status().tokens.length > 0 && !(a as unknown as { clusterRedis: { isUp: boolean } }).clusterRedis.isUp, true, 'A sees Redis down', 10_000);
      const refused = await api(a, 'POST', '/api/token', { type: 'forward', token: 'fwd-refused' });
      expect(refused).to.deep.equal({ status: 503, json: { success: false, error: 'cluster store (Redis) is unreachable; try again later' } });
      expect((await api(a, 'DELETE', '/api/token/fwd-keep')).status).to.equal(503);
      expect((await api(a, 'PUT', '/api/config/access', { dial: [] })).status).to.equal(503);
      // The `token` command's client reports the server's reason.
      const viaCli = await new ApiClient({ url: `http://127.0.0.1:${c.address().port}`, apiKey: KEY }).addToken({ type: 'forward' }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(viaCli?.message).to.equal('cluster store (Redis) is unreachable; try again later');
      await a.addForwardTokenAsync('x').then(
        () => expect.fail('write while Redis is down'),
        (err: unknown) => expect((err as ClusterError).code).to.equal('ERR_CLUSTER_UNAVAILABLE'),
      );
      // The tunnels through B and C keep working, a new client is accepted on A, and every
      // instance still knows its tokens.
      const payload = Buffer.from('while Redis is down');
      expect(await socksEcho(forward.socksAddress()!.port, echo.port, payload)).to.deep.equal(payload);
      const socks = await socksConnect({ proxyPort: port, host: '127.0.0.1', port: echo.port, userId: 'u', password: 'pw' });
      socks.write(payload);
      const [echoed] = await waitForEvent<[Buffer]>(socks, 'data', 5000);
      expect(echoed).to.deep.equal(payload);
      socks.destroy();
      const late = client(a, { token: 'fwd-keep', socksPort: 0 });
      await late.start();
      expect(await socksEcho(late.socksAddress()!.port, echo.port, payload)).to.deep.equal(payload);
      for (const server of [a, b, c]) expect(tokensOf(server)).to.deep.equal(['fwd-keep', 'rev-keep']);

      // Back, empty: re-seeded from the instances' view (not the removed token), then a token added
      // through C is visible on A and B.
      await redis.restart();
      await until(async () => (await hLenWhenUp()) === 2, 'Redis re-seeded', 15_000);
      expect(await raw.hGet('linksocks:ports', String(port))).to.equal(sha256Hex('rev-keep'));
      const added = await retryWhileUnavailable(() => c.addForwardTokenAsync('fwd-after'));
      expect(added).to.equal('fwd-after');
      for (const server of [a, b]) await waitForValue(() => server.store.has('fwd-after'), true, 'token added after the restart');
      expect(a.store.get('rev-keep')).to.include({ password: 'pw', port });
      expect(payload).to.deep.equal(await socksEcho(forward.socksAddress()!.port, echo.port, payload));
    });

  });

  async function until(check: () => Promise<boolean>, label: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${label}: not after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function hLenWhenUp(): Promise<number> {
    try {
      if (!raw.isReady) return -1;
      return await raw.hLen('linksocks:tokens');
    } catch {
      return -1;
    }
  }
});

/** Writes right after Redis returns may meet an instance still resyncing (503): retry briefly. */
async function retryWhileUnavailable<T>(write: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await write();
    } catch (err) {
      if ((err as ClusterError).code !== 'ERR_CLUSTER_UNAVAILABLE' || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

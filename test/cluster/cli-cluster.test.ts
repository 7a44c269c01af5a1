// The cluster flags of `server`: flags and LINKSOCKS_* variables to options, refusals as one-line
// errors, the Configuration summary, and real CLI processes against a real redis-server (joins,
// withdraws on SIGTERM, drops out within the bound after SIGKILL, exit 1 on a bad Redis).
import { expect } from 'chai';
import { main } from '../../src/cli/main.js';
import { parseServerFlags } from '../../src/cli/parse-server.js';
import { serverSummary } from '../../src/cli/summary.js';
import { CliError } from '../../src/cli/errors.js';
import { RedisDirectory } from '../../src/cluster/redis-directory.js';
import { ClusterRedis } from '../../src/cluster/redis.js';
import { silentLogger } from '../../src/log.js';
import { freePort, LOCALHOST, waitForEvent } from '../helpers/net.js';
import { spawnProcess, tsCli, type TestProcess } from '../helpers/process.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { waitForValue } from '../helpers/wait.js';

const [node, cliArgs] = tsCli();
const SECRET = 'S3cret-cluster-value';
const PASSWORD = 'Redis-pw-value';

function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): TestProcess {
  return spawnProcess(node, [...cliArgs, ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, name: 'server' });
}

function cliError(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    expect(err).to.be.instanceOf(CliError);
    return (err as Error).message;
  }
  throw new Error('no error');
}

describe('cluster: CLI flags', () => {
  it('help lists the cluster flags as linksocks-ts extras with their variables', async () => {
    let out = '';
    const code = await main(['node', 'linksocks-ts', 'help', 'server'], {
      env: {},
      forceExit: false,
      output: { writeOut: (text) => void (out += text), writeErr: () => undefined },
    });
    expect(code).to.equal(0);
    const help = out.replace(/\s+/g, ' ');
    for (const [flag, env] of [
      ['--cluster <url>', 'LINKSOCKS_CLUSTER'],
      ['--cluster-secret <secret>', 'LINKSOCKS_CLUSTER_SECRET'],
      ['--advertise-url <url>', 'LINKSOCKS_ADVERTISE_URL'],
      ['--node-id <id>', 'LINKSOCKS_NODE_ID'],
    ] as const) {
      expect(help).to.match(new RegExp(`${flag} \\[linksocks-ts\\] [^[]*\\[env ${env}\\]`));
    }
  });

  it('turns --cluster, --cluster-secret, --advertise-url and --node-id into the cluster option', () => {
    const config = parseServerFlags(
      { cluster: 'redis://127.0.0.1:6379', clusterSecret: SECRET, advertiseUrl: 'ws://10.0.0.11:8765', nodeId: 'relay-1' },
      {},
    );
    expect(config.serverOptions.cluster).to.deep.equal({ url: 'redis://127.0.0.1:6379', secret: SECRET, nodeId: 'relay-1', advertiseUrl: 'ws://10.0.0.11:8765' });
  });

  it('reads the LINKSOCKS_* variables; a flag wins; the node id defaults to a random one', () => {
    const env = {
      LINKSOCKS_CLUSTER: 'rediss://u:pw@redis.internal:6380/2',
      LINKSOCKS_CLUSTER_SECRET: SECRET,
      LINKSOCKS_ADVERTISE_URL: 'wss://relay-2:443',
    };
    const config = parseServerFlags({}, env);
    expect(config.serverOptions.cluster).to.include({ url: env.LINKSOCKS_CLUSTER, secret: SECRET, advertiseUrl: 'wss://relay-2:443' });
    expect(config.serverOptions.cluster?.nodeId).to.match(/^[0-9a-f]{12}$/);
    expect(parseServerFlags({ nodeId: 'flag-id' }, { ...env, LINKSOCKS_NODE_ID: 'env-id' }).serverOptions.cluster?.nodeId).to.equal('flag-id');
    expect(parseServerFlags({}, { ...env, LINKSOCKS_NODE_ID: 'env-id' }).serverOptions.cluster?.nodeId).to.equal('env-id');
    expect(parseServerFlags({}, {}).serverOptions.cluster).to.equal(undefined);
  });

  it('refuses with one line: --state-file with --cluster, no secret, bad URLs, orphan flags', () => {
    const base = { cluster: `redis://:${PASSWORD}@127.0.0.1:6379`, clusterSecret: SECRET };
    expect(cliError(() => parseServerFlags({ ...base, stateFile: '/tmp/x.json' }, {}))).to.equal(
      '--state-file cannot be used with --cluster: Redis is the token store',
    );
    expect(cliError(() => parseServerFlags({ ...base }, { LINKSOCKS_STATE_FILE: 'x.json' }))).to.include('--state-file cannot be used with --cluster');
    expect(cliError(() => parseServerFlags({ cluster: base.cluster }, {}))).to.include('--cluster needs --cluster-secret');
    const bad = cliError(() => parseServerFlags({ ...base, cluster: `http://:${PASSWORD}@127.0.0.1:6379` }, {}));
    expect(bad).to.include('--cluster must be a redis:// or rediss:// URL').and.not.include(PASSWORD);
    expect(cliError(() => parseServerFlags({ ...base, cluster: 'redis://[::1' }, {}))).to.include('--cluster must be');
    expect(cliError(() => parseServerFlags({ ...base, advertiseUrl: 'http://x' }, {}))).to.include('--advertise-url');
    expect(cliError(() => parseServerFlags({ ...base, nodeId: 'a b' }, {}))).to.include('--node-id');
    expect(cliError(() => parseServerFlags({ clusterSecret: SECRET }, {}))).to.include('need --cluster');
    for (const message of [bad]) expect(message).to.not.include('\n');
  });

  it('Configuration summary names the node id and the cluster (password and secret masked)', () => {
    const config = parseServerFlags({ cluster: `redis://:${PASSWORD}@127.0.0.1:6379`, clusterSecret: SECRET, nodeId: 'relay-1', apiKey: 'k' }, {});
    const fields = serverSummary(config, { host: '127.0.0.1', port: 8765 });
    expect(fields).to.include({ cluster: 'redis://:***@127.0.0.1:6379', node_id: 'relay-1', cluster_secret: '***' });
    expect(JSON.stringify(fields)).to.not.include(PASSWORD).and.not.include(SECRET);
    expect(serverSummary(parseServerFlags({ apiKey: 'k' }, {}), { host: '127.0.0.1', port: 1 })).to.not.have.property('cluster');
  });
});

describe('cluster: CLI processes against Redis', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let probe: ClusterRedis;

  before(async function () {
    redis = await startRedis(this, { password: PASSWORD });
    probe = await ClusterRedis.connect(redis.url, { logger: silentLogger() });
  });
  after(async () => {
    await probe?.close();
    await redis?.stop();
  });

  it('joins from LINKSOCKS_* variables, shows the summary, withdraws on SIGTERM, never logs the secrets', async () => {
    const proc = spawnCli(['server', '-H', LOCALHOST, '-P', '0', '-k', 'api-key-1', '--log-format', 'json', '-d'], {
      LINKSOCKS_CLUSTER: redis.url,
      LINKSOCKS_CLUSTER_SECRET: SECRET,
      LINKSOCKS_NODE_ID: 'cli-node',
    });
    await proc.waitForLine(/LinkSocks server started/, { stream: 'stdout', timeoutMs: 20_000 });
    const summary = proc.lines.map((l) => l.text).find((t) => t.includes('Configuration summary'))!;
    const fields = JSON.parse(summary) as Record<string, unknown>;
    expect(fields).to.include({ cluster: `redis://:***@127.0.0.1:${redis.port}`, node_id: 'cli-node', cluster_secret: '***' });
    const record = JSON.parse((await probe.commands.get('linksocks:node:cli-node'))!) as { url: string };
    expect(record.url).to.match(/^ws:\/\/127\.0\.0\.1:\d+$/);
    expect(await proc.stop()).to.deep.equal({ code: 0, signal: null });
    expect(await probe.commands.exists('linksocks:node:cli-node')).to.equal(0);
    expect(proc.output()).to.not.include(SECRET).and.not.include(PASSWORD);
  });

  it('a SIGKILLed instance drops out of the others within the bound', async () => {
    const conn = await ClusterRedis.connect(redis.url, { logger: silentLogger() });
    const observer = new RedisDirectory(conn, { nodeId: 'observer', logger: silentLogger() });
    try {
      await observer.announce('ws://127.0.0.1:1');
      const proc = spawnCli(['server', '-H', LOCALHOST, '-P', '0', '-k', 'api-key-1', '--cluster', redis.url, '--cluster-secret', SECRET, '--node-id', 'victim']);
      await proc.waitForLine(/LinkSocks server started/, { stream: 'stdout', timeoutMs: 20_000 });
      await waitForValue(() => observer.nodeUrl('victim') !== undefined, true, 'observer sees victim');
      const gone = waitForEvent<[string]>(observer, 'node-gone', 10_000);
      const t0 = Date.now();
      proc.child.kill('SIGKILL');
      expect((await gone)[0]).to.equal('victim');
      const elapsed = Date.now() - t0;
      console.log(`      SIGKILLed CLI instance dropped after ${elapsed} ms (bound ${observer.deadNodeBoundMs} ms)`);
      expect(elapsed).to.be.below(observer.deadNodeBoundMs + 1500);
    } finally {
      await observer.withdraw();
      await conn.close();
    }
  });

  it('exits 1 with one line (no password) when Redis cannot be reached, and on an unparseable URL', async () => {
    const port = await freePort();
    const unreachable = spawnCli(['server', '-H', LOCALHOST, '-P', '0', '--cluster', `redis://:${PASSWORD}@127.0.0.1:${port}`, '--cluster-secret', SECRET]);
    expect((await unreachable.waitForExit(20_000)).code).to.equal(1);
    const errLines = unreachable.lines.filter((l) => l.stream === 'stderr').map((l) => l.text);
    expect(errLines).to.have.length(1);
    expect(errLines[0]).to.include('cannot connect to Redis at redis://:***@127.0.0.1');
    expect(unreachable.output()).to.not.include(PASSWORD).and.not.include(SECRET);

    const garbled = spawnCli(['server', '--cluster', 'redis//nope', '--cluster-secret', SECRET]);
    expect((await garbled.waitForExit(20_000)).code).to.equal(1);
    const garbledErr = garbled.lines.filter((l) => l.stream === 'stderr').map((l) => l.text);
    expect(garbledErr).to.have.length(1);
    expect(garbledErr[0]).to.include('--cluster must be a redis:// or rediss:// URL');

    const withState = spawnCli(['server', '--cluster', redis.url, '--cluster-secret', SECRET, '--state-file', 'x.json']);
    expect((await withState.waitForExit(20_000)).code).to.equal(1);
    expect(withState.output()).to.include('--state-file cannot be used with --cluster');
  });
});

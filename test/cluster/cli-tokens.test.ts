// Cluster tokens between real CLI processes: two `linksocks-ts server --cluster` processes on one
// redis-server; tokens written through one instance's API (what the `token` command uses) show in
// the other's /api/status, timed over 200 changes; both started with the same `-r -t` token share
// it; SIGTERM ends both with status 0.
import { expect } from 'chai';
import { ApiClient } from '../../src/cli/api-client.js';
import { freePort, LOCALHOST } from '../helpers/net.js';
import { spawnProcess, tsCli, type TestProcess } from '../helpers/process.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const [node, cliArgs] = tsCli();
const SECRET = 'cli-tokens-cluster-secret';
const KEY = 'cli-tokens-api-key';

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

describe('cluster: tokens between CLI processes', function () {
  this.timeout(120_000);
  let redis: TestRedis;
  const procs: TestProcess[] = [];
  const ports: number[] = [];

  const spawnServer = async (extra: string[]): Promise<{ proc: TestProcess; port: number }> => {
    const port = await freePort();
    const proc = spawnProcess(
      node,
      [...cliArgs, 'server', '-H', LOCALHOST, '-P', String(port), '--cluster', redis.url, '--cluster-secret', SECRET, ...extra],
      { env: { ...process.env, NO_COLOR: '1' }, name: `server-${port}` },
    );
    procs.push(proc);
    await proc.waitForLine(/LinkSocks server started/, { stream: 'stdout', timeoutMs: 30_000 });
    return { proc, port };
  };

  before(async function () {
    redis = await startRedis(this);
    for (let i = 0; i < 2; i++) ports.push((await spawnServer(['-k', KEY])).port);
  });

  after(async () => {
    for (const proc of procs) await proc.stop();
    await redis?.stop();
  });

  const clientOf = (port: number): ApiClient => new ApiClient({ url: `http://${LOCALHOST}:${port}`, apiKey: KEY });

  it('a token written through one process is in the other one\'s status (propagation timed)', async () => {
    const [a, b] = [clientOf(ports[0]!), clientOf(ports[1]!)];
    const delays: number[] = [];
    const visibleOnB = async (token: string): Promise<boolean> => (await b.status()).tokens.some((entry) => entry.token === token);
    for (let i = 0; i < 200; i++) {
      const adding = i < 100;
      const token = `cli-prop-${i % 100}`;
      const started = process.hrtime.bigint();
      if (adding) await a.addToken({ type: 'forward', token });
      else await a.removeToken(token);
      while ((await visibleOnB(token)) !== adding) {
        if (Number(process.hrtime.bigint() - started) / 1e6 > 5000) throw new Error(`${token} not propagated`);
      }
      delays.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    delays.sort((x, y) => x - y);
    const p50 = percentile(delays, 50);
    const p99 = percentile(delays, 99);
    console.log(`      CLI processes, API write on A → /api/status on B, ${delays.length} changes: median ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms (each includes the HTTP round trips)`);
    expect(p99).to.be.below(1000);
  });

  it('two processes started with the same -r -t token share it and its port; SIGTERM exits 0', async () => {
    const socksPort = await freePort();
    const first = await spawnServer(['-r', '-t', 'cli-shared', '-p', String(socksPort)]);
    const second = await spawnServer(['-r', '-t', 'cli-shared', '-p', String(socksPort)]);
    for (const { proc } of [first, second]) {
      expect(proc.lines.map((l) => l.text).some((text) => text.includes(`SOCKS5 port: ${socksPort}`))).to.equal(true);
    }
    const status = await clientOf(ports[0]!).status();
    expect(status.tokens.find((entry) => entry.token === 'cli-shared')).to.include({ type: 'reverse', port: socksPort });
    for (const { proc } of [first, second]) {
      proc.child.kill('SIGTERM');
      expect((await proc.waitForExit(20_000)).code).to.equal(0);
    }
  });
});

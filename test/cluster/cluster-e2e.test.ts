// Cluster mode end to end, as a user runs it: three `linksocks-ts server` processes on one
// redis-server, providers and connectors as CLI processes, SOCKS clients through every instance.
// Tokens added on one instance reach all; reverse and agent channels cross instances with
// hash-exact transfers; round robin is fair across instances; an instance killed with SIGKILL and
// a Redis restart leave the rest serving.
import { expect } from 'chai';
import net from 'node:net';
import { freePort, LOCALHOST, startEchoServer, waitForPort, withTimeout, type EchoServer } from '../helpers/net.js';
import { makePayload, sendAndCollect } from '../helpers/payload.js';
import { spawnProcess, stopAllProcesses, tsCli, type TestProcess } from '../helpers/process.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { socksConnect } from '../helpers/socks.js';
import { waitForDefined } from '../helpers/wait.js';

const [node, cliArgs] = tsCli();
const KEY = 'cluster-e2e-api-key';
const SECRET = 'cluster-e2e-secret';

interface Instance {
  readonly name: string;
  readonly port: number;
  /** Loopback address of this instance's reverse SOCKS listeners (ports are equal on every instance). */
  readonly socksHost: string;
  readonly url: string;
  proc: TestProcess;
}

/** Servers, providers and connectors live until after() stops them: later tests build on them. */
function cli(args: string[], name: string): TestProcess {
  return spawnProcess(node, [...cliArgs, ...args], { env: { ...process.env, NO_COLOR: '1' }, name, suiteScoped: true });
}

async function api(instance: Instance, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`http://${LOCALHOST}:${instance.port}${path}`, {
    method,
    headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

async function tokenEntry(instance: Instance, token: string): Promise<any> {
  const { json } = await api(instance, 'GET', '/api/status');
  return (json.tokens as any[]).find((entry) => entry.token === token);
}

/** Polls `read` until it returns a truthy value (or fails after timeoutMs). */
async function until<T>(read: () => Promise<T | undefined | false>, label: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read().catch(() => undefined);
    if (value) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function echoThrough(socksHost: string, socksPort: number, echo: EchoServer, size: number, seed: number): Promise<void> {
  const socket = await socksConnect({ proxyHost: socksHost, proxyPort: socksPort, host: LOCALHOST, port: echo.port, timeoutMs: 20_000 });
  try {
    await sendAndCollect(socket, makePayload(size, seed), { timeoutMs: 60_000 });
  } finally {
    socket.destroy();
  }
}

describe('cluster: three instances on one Redis (CLI processes)', function () {
  this.timeout(120_000);
  let redis: TestRedis;
  let echo: EchoServer;
  const instances: Instance[] = [];
  const ports = new Map<string, number>();

  async function startInstance(index: number): Promise<Instance> {
    const port = await freePort();
    const name = `n${index + 1}`;
    const socksHost = `127.0.0.${index + 2}`;
    const url = `ws://${LOCALHOST}:${port}`;
    // E2E_DEBUG=1 starts the servers with -d (their debug log is in proc.output()).
    const proc = cli(
      ['server', '-k', KEY, '-H', LOCALHOST, '-P', String(port), '-s', socksHost, '--cluster', redis.url, '--cluster-secret', SECRET, '--node-id', name, '--advertise-url', url, ...(process.env.E2E_DEBUG ? ['-d'] : [])],
      `server-${name}`,
    );
    await waitForPort(port, 30_000);
    return { name, port, socksHost, url, proc };
  }

  async function addReverse(on: Instance, token: string): Promise<number> {
    const { status, json } = await api(on, 'POST', '/api/token', { type: 'reverse', token });
    expect(status, JSON.stringify(json)).to.equal(200);
    ports.set(token, json.port);
    return json.port as number;
  }

  function provider(token: string, ...urls: Instance[]): TestProcess {
    return cli(['provider', '-t', token, ...urls.flatMap((i) => ['-u', i.url])], `provider-${token}`);
  }

  /** Waits until `via`'s SOCKS port of `token` accepts, with `count` providers connected in the cluster. */
  async function ready(via: Instance, token: string, count = 1): Promise<void> {
    await until(async () => (await tokenEntry(via, token))?.clients_count >= count, `${count} provider(s) of ${token} seen by ${via.name}`, 30_000);
    await waitForPort(ports.get(token)!, 15_000, via.socksHost);
  }

  before(async function () {
    redis = await startRedis(this);
    echo = await startEchoServer();
    for (let i = 0; i < 3; i += 1) instances.push(await startInstance(i));
  });

  after(async () => {
    await stopAllProcesses();
    await redis?.stop();
    await echo?.close();
  });

  it('a token added on one instance is on every instance; removing it removes it everywhere', async () => {
    const [n1, n2, n3] = instances as [Instance, Instance, Instance];
    const { status, json } = await api(n2, 'POST', '/api/token', { type: 'forward', token: 'fwd-everywhere' });
    expect(status, JSON.stringify(json)).to.equal(200);
    for (const instance of [n1, n3]) await until(() => tokenEntry(instance, 'fwd-everywhere'), `token on ${instance.name}`, 5_000);
    expect((await api(n3, 'DELETE', '/api/token/fwd-everywhere')).status).to.equal(200);
    for (const instance of [n1, n2]) await until(async () => (await tokenEntry(instance, 'fwd-everywhere')) === undefined, `token gone on ${instance.name}`, 5_000);
  });

  it('reverse: every (SOCKS instance, provider instance) pair carries hash-exact data', async () => {
    for (const [i, home] of instances.entries()) {
      await addReverse(instances[(i + 1) % 3]!, `rev-${home.name}`);
      provider(`rev-${home.name}`, home);
    }
    let seed = 1;
    for (const home of instances) {
      for (const via of instances) {
        await ready(via, `rev-${home.name}`);
        // One 16 MiB transfer across instances, 2 MiB for the other pairs.
        const size = home.name === 'n3' && via.name === 'n1' ? 16 * 1024 * 1024 : 2 * 1024 * 1024;
        await echoThrough(via.socksHost, ports.get(`rev-${home.name}`)!, echo, size, seed++);
      }
    }
  });

  it('agent: a connector on one instance reaches a provider on another', async () => {
    const [n1, n2] = instances as [Instance, Instance, Instance];
    const { status, json } = await api(n2, 'POST', '/api/token', { type: 'connector', token: 'conn-n1', reverse_token: 'rev-n2' });
    expect(status, JSON.stringify(json)).to.equal(200);
    const socksPort = await freePort();
    const connector = cli(['connector', '-t', 'conn-n1', '-u', n1.url, '-p', String(socksPort), '-d'], 'connector');
    await waitForPort(socksPort, 30_000);
    try {
      await until(async () => {
        await echoThrough(LOCALHOST, socksPort, echo, 1024, 99);
        return true;
      }, 'first echo through the connector', 20_000);
    } catch (err) {
      console.log(connector.output().slice(-3000));
      console.log(n1.proc.output().slice(-30000));
      console.log(n2.proc.output().slice(-30000));
      throw err;
    }
    await echoThrough(LOCALHOST, socksPort, echo, 8 * 1024 * 1024, 100);
  });

  it('round robin is fair across instances: 3 providers on 3 instances, 300 channels through one port', async () => {
    const [n1] = instances as [Instance, Instance, Instance];
    await addReverse(n1, 'rev-fair');
    for (const home of instances) provider('rev-fair', home);
    for (const via of instances) await ready(via, 'rev-fair', 3);
    // Every instance must know the others' providers before the count starts.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const sockets: net.Socket[] = [];
    try {
      for (let i = 0; i < 300; i += 1) {
        sockets.push(await socksConnect({ proxyHost: n1.socksHost, proxyPort: ports.get('rev-fair')!, host: LOCALHOST, port: echo.port, timeoutMs: 20_000 }));
      }
      const counts: number[] = [];
      for (const instance of instances) {
        const { json } = await api(instance, 'GET', '/api/token/rev-fair/clients');
        const providers = (json.clients as any[]).filter((client) => client.role === 'provider');
        expect(providers).to.have.length(1);
        counts.push(providers[0].channels as number);
      }
      expect(counts.reduce((a, b) => a + b, 0)).to.equal(300);
      for (const count of counts) expect(count, `channels per provider: ${counts.join(', ')}`).to.be.within(95, 105);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  it('an instance killed with SIGKILL: other transfers finish hash-exact, its provider moves on, its token works again', async () => {
    const [n1, n2, n3] = instances as [Instance, Instance, Instance];
    await addReverse(n1, 'rev-moving');
    provider('rev-moving', n3, n1);
    await ready(n2, 'rev-moving');
    await echoThrough(n2.socksHost, ports.get('rev-moving')!, echo, 64 * 1024, 7);
    // Transfers of tokens whose providers live on the survivors, one of them crossing instances
    // (their providers, started by the reverse test, must still be there).
    await ready(n1, 'rev-n2');
    await ready(n2, 'rev-n1');
    const running = [
      echoThrough(n1.socksHost, ports.get('rev-n2')!, echo, 16 * 1024 * 1024, 11),
      echoThrough(n2.socksHost, ports.get('rev-n1')!, echo, 16 * 1024 * 1024, 12),
    ];
    // A channel through n2 to the provider on n3: killing n3 must close its SOCKS socket promptly.
    const doomed = await socksConnect({ proxyHost: n2.socksHost, proxyPort: ports.get('rev-moving')!, host: LOCALHOST, port: echo.port, timeoutMs: 20_000 });
    doomed.on('error', () => undefined);
    doomed.resume();
    const doomedClosed = new Promise<number>((resolve) => doomed.once('close', () => resolve(Date.now())));
    doomed.write('kept open across the kill');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const killedAt = Date.now();
    n3.proc.child.kill('SIGKILL');
    await n3.proc.exited;
    const closedAt = await withTimeout(doomedClosed, 10_000, 'the SOCKS socket of a channel through the killed instance closing');
    console.log(`      SOCKS socket through the killed instance closed after ${closedAt - killedAt} ms`);
    await Promise.all(running);
    // The provider of rev-moving reconnects to n1; a SOCKS client on n2 is served again.
    const recovered = await until(async () => {
      await echoThrough(n2.socksHost, ports.get('rev-moving')!, echo, 64 * 1024, 8);
      return Date.now();
    }, 'rev-moving served again through n2', 30_000);
    console.log(`      recovery after SIGKILL: ${recovered - killedAt} ms`);
    instances.pop();
  });

  it('Redis stopped: tunnels keep running, API writes answer 503; restarted: a token added meanwhile is seen everywhere', async () => {
    const [n1, n2] = instances as [Instance, Instance];
    await redis.stop();
    await echoThrough(n1.socksHost, ports.get('rev-n2')!, echo, 4 * 1024 * 1024, 21);
    const refused = await until(async () => {
      const answer = await api(n1, 'POST', '/api/token', { type: 'forward', token: 'during-outage' });
      return answer.status === 503 ? answer : undefined;
    }, 'a 503 from the API while Redis is down', 15_000);
    expect(refused.json.error).to.match(/unreachable/i);
    await redis.restart();
    const added = await until(async () => {
      const answer = await api(n2, 'POST', '/api/token', { type: 'forward', token: 'after-outage' });
      return answer.status === 200 ? answer : undefined;
    }, 'API writes accepted again', 30_000);
    expect(added.json.success).to.equal(true);
    await until(() => tokenEntry(n1, 'after-outage'), 'the new token on n1', 15_000);
    // Tokens known before the outage are still served everywhere.
    await echoThrough(n2.socksHost, ports.get('rev-n1')!, echo, 1024 * 1024, 22);
    expect(await waitForDefined(() => ports.get('rev-n1'), 'port')).to.be.a('number');
  });
});

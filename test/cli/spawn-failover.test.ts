// `-u` repeated and LINKSOCKS_URL as a list, with the real CLI process: the client skips a URL
// nobody listens on, moves to the next server when its server closes, logs the URL it uses and
// never the token. Servers run in-process.
import { expect } from 'chai';
import { LinkSocksServer } from '../../src/server/server.js';
import { freePort, LOCALHOST, startEchoServer, type EchoServer } from '../helpers/net.js';
import { makePayload, sha256 } from '../helpers/payload.js';
import { spawnProcess, tsCli, type TestProcess } from '../helpers/process.js';
import { socksEcho } from '../helpers/socks.js';

const [node, cliArgs] = tsCli();
const TOKEN = 'failover-s3cret-token';
const MiB = 1024 * 1024;

describe('CLI: client failover across -u URLs (spawned)', function () {
  this.timeout(60_000);
  let echo: EchoServer;
  const servers: LinkSocksServer[] = [];

  async function startServer(): Promise<{ server: LinkSocksServer; url: string }> {
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
    server.addForwardToken(TOKEN);
    await server.start();
    servers.push(server);
    return { server, url: `ws://${LOCALHOST}:${server.address().port}` };
  }

  async function startClient(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ proc: TestProcess; socksPort: number }> {
    const proc = spawnProcess(node, [...cliArgs, 'client', '-s', LOCALHOST, '-p', '0', ...args], {
      env: { ...process.env, NO_COLOR: '1', LINKSOCKS_TOKEN: TOKEN, ...env },
      name: 'client',
    });
    const match = await proc.waitForLine(/^(?=.*SOCKS5 server started)(?=.*addr"?[=:]"?127\.0\.0\.1:(\d+))/, { stream: 'stdout', timeoutMs: 15_000 });
    return { proc, socksPort: Number(match[1]) };
  }

  async function hashedEcho(socksPort: number, seed: number): Promise<void> {
    const payload = makePayload(MiB, seed);
    expect(sha256(await socksEcho(socksPort, echo.port, payload))).to.equal(sha256(payload));
  }

  beforeEach(async function () {
    echo = await startEchoServer();
  });

  afterEach(async function () {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await echo.close();
  });

  it('-u DEAD -u A -u B: skips the dead URL, moves from A to B when A closes, logs URLs but not the token', async function () {
    const dead = `ws://${LOCALHOST}:${await freePort()}`;
    const a = await startServer();
    const b = await startServer();
    const { proc, socksPort } = await startClient(['-u', dead, '-u', a.url, '-u', b.url]);
    expect(proc.findLine(/Configuration summary/)?.input).to.include(`${dead},${a.url},${b.url}`);
    expect(a.server.clients()).to.have.length(1);
    await hashedEcho(socksPort, 1);
    // Let the link outlive the first reconnect delay, so its loss moves on at once.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await a.server.close();
    await proc.waitForLine(new RegExp(`Authentication successful.*${b.url.replace(/[.:/]/g, '\\$&')}`), { stream: 'stdout', timeoutMs: 10_000 });
    await hashedEcho(socksPort, 2);
    expect(proc.output()).to.match(/Connection error/);
    expect(proc.output()).not.to.include(TOKEN);
    const exit = await proc.stop();
    expect(exit.code).to.equal(0);
  });

  it('LINKSOCKS_URL with a comma- and space-separated list', async function () {
    const dead = `ws://${LOCALHOST}:${await freePort()}`;
    const a = await startServer();
    const { proc, socksPort } = await startClient([], { LINKSOCKS_URL: `${dead}, ${a.url}` });
    expect(a.server.clients()).to.have.length(1);
    await hashedEcho(socksPort, 3);
    expect(proc.output()).not.to.include(TOKEN);
  });
});

import { expect } from 'chai';
import type { IncomingMessage } from 'node:http';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import WebSocket from 'ws';
import { PeerAuth } from '../../src/cluster/peer-auth.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { freePort, LOCALHOST, startEchoServer, waitForPort } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { socksConnect } from '../helpers/socks.js';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { sha256Hex } from '../../src/util/secrets.js';
import { CLUSTER_SECRET, startCluster, type ClusterRig } from './cluster-rig.js';

/** The HTTP status of an upgrade to `url` with `headers` (101 when it was accepted). */
function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.on('open', () => {
      resolve(101);
      ws.terminate();
    });
    ws.on('error', (err) => reject(err));
  });
}

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

describe('cluster: instance links refuse anything without the cluster secret', function () {
  this.timeout(30_000);
  checkNoLeaksAfterSuite();
  let rig: ClusterRig;
  let echo: EchoServer;

  beforeEach(async function () {
    echo = await startEchoServer();
  });

  afterEach(async function () {
    await rig?.stop();
    await echo.close();
  });

  it('answers 401 to a missing or wrong secret, counts it as a failed authentication, and rate limits', async function () {
    const log = memoryLogger();
    rig = await startCluster(1, { authRateLimit: { burst: 3, refillPerSecond: 0.01 }, logger: log.logger });
    rig.servers[0]!.addReverseToken({ token: 'rev', port: await freePort() });
    const url = `${rig.url(0)}/cluster`;
    const failures: string[] = [];
    rig.servers[0]!.on('auth-failed', ({ reason }) => failures.push(reason));
    expect(await upgradeStatus(url, {})).to.equal(401);
    const wrong = new PeerAuth('not-the-secret', 'intruder', Date.now);
    expect(await upgradeStatus(url, wrong.headers('node-a', sha256Hex('rev')))).to.equal(401);
    expect(await upgradeStatus(url, wrong.headers('node-a', sha256Hex('rev')))).to.equal(401);
    expect(failures).to.deep.equal(['cluster authentication missing', 'cluster authentication failed', 'cluster authentication failed']);
    // The address is out of attempts: even the right secret waits now (as a right token does).
    const right = new PeerAuth(CLUSTER_SECRET, 'node-x', Date.now);
    expect(await upgradeStatus(url, right.headers('node-a', sha256Hex('rev')))).to.equal(429);
    expect(log.text()).to.not.contain(CLUSTER_SECRET);
  });

  it('accepts the right secret once per nonce; a replay is refused', async function () {
    rig = await startCluster(1);
    rig.servers[0]!.addReverseToken({ token: 'rev', port: await freePort() });
    const url = `${rig.url(0)}/cluster`;
    const headers = new PeerAuth(CLUSTER_SECRET, 'node-x', Date.now).headers('node-a', sha256Hex('rev'));
    expect(await upgradeStatus(url, headers)).to.equal(101);
    expect(await upgradeStatus(url, headers)).to.equal(401);
    // A token this instance does not know: 404, not an authentication failure.
    const unknown = new PeerAuth(CLUSTER_SECRET, 'node-x', Date.now).headers('node-a', sha256Hex('nope'));
    expect(await upgradeStatus(url, unknown)).to.equal(404);
  });

  it('an instance with another secret gets no channels through: the SOCKS client is refused, not hung', async function () {
    rig = await startCluster(1, { providerWaitMs: 1000 });
    const port = await freePort();
    rig.servers[0]!.addReverseToken({ token: 'rev', port });
    // A second server in the same directory, with a different secret, holding the only provider.
    const other = new LinkSocksServer({ host: LOCALHOST, port: 0, socksHost: '127.0.0.9', cluster: { directory: rig.memory.join('node-z'), secret: 'other-secret' } });
    await other.start();
    const provider = new LinkSocksClient({ url: `ws://${LOCALHOST}:${other.address().port}`, token: 'rev', reverse: true });
    try {
      other.addReverseToken({ token: 'rev', port });
      await provider.start();
      await waitForPort(port, 5000, rig.socksHost(0));
      const started = Date.now();
      const failed = await socksConnect({ proxyHost: rig.socksHost(0), proxyPort: port, host: LOCALHOST, port: echo.port, timeoutMs: 10_000 }).then(
        (s) => {
          s.destroy();
          return 'connected';
        },
        (err: Error) => err.message,
      );
      expect(failed).to.match(/NetworkUnreachable/);
      expect(Date.now() - started).to.be.below(5000);
      expect(other.clusterLinks().incoming).to.have.length(0);
    } finally {
      await provider.close();
      await other.close();
    }
  });
});

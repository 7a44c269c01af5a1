// Channels across instances with the real directory: two servers on one Redis (cluster.url).
import { expect } from 'chai';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { freePort, LOCALHOST, startEchoServer, waitForPort } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { collectBytes, makePayload, sha256, writeAll } from '../helpers/payload.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { socksConnect } from '../helpers/socks.js';
import { waitForValue } from '../helpers/wait.js';

describe('cluster: channels across instances on Redis', function () {
  this.timeout(60_000);
  let redis: TestRedis | undefined;
  let echo: EchoServer;
  const servers: LinkSocksServer[] = [];
  const clients: LinkSocksClient[] = [];

  before(async function () {
    redis = await startRedis(this);
    echo = await startEchoServer();
  });

  after(async function () {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.close()));
    await echo?.close();
    await redis?.stop();
  });
  // Registered after the cleanup above, so that it checks once everything was stopped.
  checkNoLeaksAfterSuite();

  it('reverse mode: SOCKS on A, provider on B, 4 MiB each way; B closing stops the routing at once', async function () {
    const port = await freePort();
    for (let i = 0; i < 2; i += 1) {
      const server = new LinkSocksServer({
        host: LOCALHOST,
        port: 0,
        socksHost: `127.0.0.${i + 2}`,
        providerWaitMs: 2000,
        cluster: { url: redis!.url, secret: 'redis-cluster-secret', nodeId: `redis-node-${i}` },
      });
      await server.start();
      servers.push(server);
    }
    // Tokens are cluster-wide: added once, seen by both.
    await servers[0]!.addReverseTokenAsync({ token: 'rev', port });
    await waitForValue(() => servers[1]!.store.get('rev')?.kind, 'reverse', 'token reached B');
    const provider = new LinkSocksClient({ url: `ws://${LOCALHOST}:${servers[1]!.address().port}`, token: 'rev', reverse: true });
    clients.push(provider);
    await provider.start();
    await waitForPort(port, 5000, '127.0.0.2');
    const socket = await socksConnect({ proxyHost: '127.0.0.2', proxyPort: port, host: LOCALHOST, port: echo.port });
    try {
      const payload = makePayload(4 * 1024 * 1024, 31);
      const received = collectBytes(socket, payload.length, 30_000);
      await writeAll(socket, payload);
      expect(sha256(await received)).to.equal(sha256(payload));
    } finally {
      socket.destroy();
    }
    expect(servers[0]!.clusterCounters!.channelsOutgoing).to.equal(1);
    expect(servers[1]!.clusterCounters!.channelsIncoming).to.equal(1);
    await provider.close();
    await servers[1]!.close();
    await waitForValue(() => servers[0]!.clusterLinks().outgoing.length, 0, 'links to the closed instance');
  });

  it('agent mode: both tokens written on B, the connector on A reaches the provider on B', async function () {
    const [a, b] = [0, 1].map(
      (i) =>
        new LinkSocksServer({
          host: LOCALHOST,
          port: 0,
          socksHost: `127.0.0.${i + 2}`,
          connectorWaitProviderMs: 2000,
          cluster: { url: redis!.url, secret: 'redis-cluster-secret', nodeId: `agent-node-${i}` },
        }),
    ) as [LinkSocksServer, LinkSocksServer];
    for (const server of [a, b]) {
      await server.start();
      servers.push(server);
    }
    await b.addReverseTokenAsync({ token: 'agent-rev', port: await freePort() });
    await b.addConnectorTokenAsync('agent-conn', 'agent-rev');
    await waitForValue(() => a.store.get('agent-conn')?.kind, 'connector', 'connector token reached A');
    const provider = new LinkSocksClient({ url: `ws://${LOCALHOST}:${b.address().port}`, token: 'agent-rev', reverse: true });
    clients.push(provider);
    await provider.start();
    const connector = new LinkSocksClient({ url: `ws://${LOCALHOST}:${a.address().port}`, token: 'agent-conn', socksPort: 0 });
    clients.push(connector);
    await connector.start();
    const socket = await socksConnect({ proxyPort: connector.socksAddress()!.port, host: LOCALHOST, port: echo.port });
    try {
      const payload = makePayload(1024 * 1024, 32);
      const received = collectBytes(socket, payload.length, 30_000);
      await writeAll(socket, payload);
      expect(sha256(await received)).to.equal(sha256(payload));
    } finally {
      socket.destroy();
    }
    expect(a.clusterCounters!.channelsOutgoing).to.equal(1);
    expect(b.clusterCounters!.channelsIncoming).to.equal(1);
  });
});

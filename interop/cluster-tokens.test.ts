// Cluster tokens with LinkSocks Go v1.7.15 peers: two TS server instances share one Redis; a Go
// forward client authenticates on one instance with a token added through the other's API, a Go
// provider joins one instance with a reverse token added on the other, and a removal on one
// instance ends the Go client's session on the other. The Go peers know nothing of the cluster.
// Go binary from LINKSOCKS_BIN.
import { expect } from 'chai';
import { LinkSocksServer } from '../src/server/server.js';
import { silentLogger } from '../src/log.js';
import { freePort, LOCALHOST, startEchoServer, type EchoServer } from '../test/helpers/net.js';
import { startRedis, type TestRedis } from '../test/helpers/redis.js';
import { socksEcho } from '../test/helpers/socks.js';
import { skipUnlessPeersAvailable } from './guard.js';
import { startClient, startProvider, type PeerHandle } from './peers.js';

const KEY = 'interop-cluster-key';

describe('interop cluster tokens (requires LINKSOCKS_BIN and redis-server)', function () {
  this.timeout(60_000);
  let redis: TestRedis;
  let echo: EchoServer;
  let servers: LinkSocksServer[] = [];
  const peers: PeerHandle[] = [];

  before(async function () {
    await skipUnlessPeersAvailable(this, ['go']);
    redis = await startRedis(this);
  });
  after(async () => {
    await redis?.stop();
  });

  beforeEach(async () => {
    echo = await startEchoServer();
    servers = [];
    for (let i = 0; i < 2; i++) {
      const server = new LinkSocksServer({ host: LOCALHOST, port: 0, apiKey: KEY, cluster: { url: redis.url, secret: 'S' }, logger: silentLogger() });
      await server.start();
      servers.push(server);
    }
  });

  afterEach(async () => {
    for (const peer of peers.splice(0).reverse()) await peer.stop();
    await Promise.all(servers.map((s) => s.close()));
    await echo.close();
  });

  const url = (server: LinkSocksServer): string => `ws://${LOCALHOST}:${server.address().port}`;
  const api = async (server: LinkSocksServer, method: string, path: string, body: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(`http://${LOCALHOST}:${server.address().port}${path}`, {
      method,
      headers: { 'X-API-Key': KEY },
      body: JSON.stringify(body),
    });
    return (await response.json()) as Record<string, unknown>;
  };

  it('go client and go provider use tokens added through another instance; a removal ends the session', async () => {
    const [a, b] = servers as [LinkSocksServer, LinkSocksServer];
    expect(await api(a, 'POST', '/api/token', { type: 'forward', token: 'go-fwd' })).to.deep.equal({ success: true, token: 'go-fwd' });
    const client = await startClient('go', { url: url(b), token: 'go-fwd' });
    peers.push(client);
    const payload = Buffer.from('go client, token from the other instance');
    expect(await socksEcho(client.socksPort, echo.port, payload)).to.deep.equal(payload);

    const port = await freePort();
    expect(await api(b, 'POST', '/api/token', { type: 'reverse', token: 'go-rev', port })).to.deep.equal({ success: true, token: 'go-rev', port });
    const provider = await startProvider('go', { url: url(a), token: 'go-rev' });
    peers.push(provider);
    expect(await socksEcho(port, echo.port, payload)).to.deep.equal(payload);

    // Removed through A: B drops the Go client's WebSocket (its reconnects are refused there).
    expect(b.clients().some((entry) => entry.token === 'go-fwd')).to.equal(true);
    expect(await api(a, 'DELETE', '/api/token/go-fwd', {})).to.deep.equal({ success: true, token: 'go-fwd' });
    await waitFor(() => b.clients().every((entry) => entry.token !== 'go-fwd'), 'B dropped the Go client');
  });
});

async function waitFor(check: () => boolean, label: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${label}: not after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

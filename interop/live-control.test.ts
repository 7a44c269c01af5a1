// [linksocks-ts] Live control and client failover with LinkSocks Go v1.7.15 peers: Go providers and
// clients are listed and can be disconnected by a TS server (they reconnect by themselves), and a
// TS client with two Go servers in its URL list fails over from one to the other.
import { expect } from 'chai';
import { LinkSocksClient } from '../src/client/client.js';
import { LinkSocksServer } from '../src/server/server.js';
import { freePort, LOCALHOST, startEchoServer, type EchoServer } from '../test/helpers/net.js';
import { makePayload, sha256 } from '../test/helpers/payload.js';
import { socksEcho } from '../test/helpers/socks.js';
import { waitForDefined } from '../test/helpers/wait.js';
import { skipUnlessPeersAvailable } from './guard.js';
import { PROVIDER_READY, startClient, startProvider, startServer, waitForLineAfter } from './peers.js';

const MiB = 1024 * 1024;

describe('interop: live control and failover with Go peers (requires LINKSOCKS_BIN)', function () {
  this.timeout(60_000);
  let echo: EchoServer;
  let stops: Array<() => Promise<unknown>> = [];

  before(async function () {
    await skipUnlessPeersAvailable(this, ['go']);
  });

  beforeEach(async function () {
    echo = await startEchoServer();
    stops = [];
  });

  afterEach(async function () {
    for (const stop of stops.reverse()) await stop();
    await echo.close();
  });

  async function hashedEcho(socksPort: number, seed: number): Promise<void> {
    const payload = makePayload(MiB, seed);
    expect(sha256(await socksEcho(socksPort, echo.port, payload))).to.equal(sha256(payload));
  }

  it('TS server lists a Go provider and a Go client, and a kicked Go provider comes back with a new id', async function () {
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
    stops.push(() => server.close());
    await server.start();
    const socksPort = await freePort();
    server.addReverseToken({ token: 'live-rev', port: socksPort });
    server.addForwardToken('live-fwd');
    const url = `ws://${LOCALHOST}:${server.address().port}`;
    const provider = await startProvider('go', { url, token: 'live-rev' });
    stops.push(() => provider.stop());
    const client = await startClient('go', { url, token: 'live-fwd' });
    stops.push(() => client.stop());

    const [p] = server.tokenClients('live-rev')!;
    const [f] = server.tokenClients('live-fwd')!;
    expect(p).to.include({ role: 'provider', node_id: null });
    expect(f).to.include({ role: 'forward', node_id: null });
    await hashedEcho(client.socksPort, 1);
    await hashedEcho(socksPort, 2);
    expect(server.tokenClients('live-fwd')![0]!.bytes_in).to.be.at.least(MiB);

    const linesBefore = provider.proc.lines.length;
    expect(server.kickClient('live-rev', p!.id)).to.equal(true);
    await waitForLineAfter(provider.proc, PROVIDER_READY, linesBefore, 20_000);
    const again = await waitForDefined(() => server.tokenClients('live-rev')![0], 'Go provider listed again', 10_000);
    expect(again.id).to.not.equal(p!.id);
    await hashedEcho(socksPort, 3);
  });

  it('TS client with two Go servers in its URL list moves to the second when the first stops', async function () {
    const a = await startServer('go', { token: 'fo-fwd' });
    stops.push(() => a.stop());
    const b = await startServer('go', { token: 'fo-fwd' });
    stops.push(() => b.stop());
    const client = new LinkSocksClient({ url: [a.url, b.url], token: 'fo-fwd', socksPort: 0, reconnect: true });
    stops.push(() => client.close());
    await client.start();
    const socksPort = client.socksAddress()!.port;
    await hashedEcho(socksPort, 4);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const connected = new Promise<string>((resolve) => client.once('connected', (link) => resolve(String(link.id))));
    const stoppedAt = Date.now();
    await a.stop();
    await connected;
    await hashedEcho(socksPort, 5);
    expect(Date.now() - stoppedAt).to.be.below(10_000);
  });
});

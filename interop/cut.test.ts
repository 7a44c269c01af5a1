// A WebSocket cut under a download with a LinkSocks Go v1.7.15 peer on the other side: the SOCKS
// client of our side sees a prompt reset, never an end of stream and never a spliced stream
// (v1.7.15 cannot resume, so our side never asks it to).
import { expect } from 'chai';
import { LinkSocksClient } from '../src/client/client.js';
import { LinkSocksServer } from '../src/server/server.js';
import { freePort, LOCALHOST, startSourceServer } from '../test/helpers/net.js';
import type { TestServer } from '../test/helpers/net.js';
import { downloadAcrossCut, startCutProxy } from '../test/reliability/rig.js';
import type { CutDownloadOutcome, CutProxy } from '../test/reliability/rig.js';
import { skipUnlessPeersAvailable } from './guard.js';
import { startProvider, startServer } from './peers.js';
import type { PeerHandle } from './peers.js';

const SIZE = 64 * 1024 * 1024;
const CUT_AFTER = 2 * 1024 * 1024;

function expectPromptReset(outcome: CutDownloadOutcome, started: number): void {
  expect(outcome.ending, `SOCKS client saw ${outcome.ending} after ${outcome.bytes} bytes`).to.equal('reset');
  expect(outcome.code).to.equal('ECONNRESET');
  expect(outcome.bytes).to.be.below(SIZE);
  expect(Date.now() - started).to.be.below(5000);
}

describe('interop: WebSocket cut with a LinkSocks Go v1.7.15 peer (requires LINKSOCKS_BIN)', function () {
  this.timeout(60_000);
  let source: TestServer;
  let stops: Array<() => Promise<unknown>> = [];

  before(async function () {
    await skipUnlessPeersAvailable(this, ['go']);
  });

  beforeEach(async function () {
    source = await startSourceServer(SIZE);
    stops = [];
  });

  afterEach(async function () {
    for (const stop of stops.reverse()) await stop();
    await source.close();
  });

  async function proxyTo(port: number): Promise<CutProxy> {
    const proxy = await startCutProxy(port);
    stops.push(() => proxy.close());
    return proxy;
  }

  async function tsClient(url: string, token: string): Promise<LinkSocksClient> {
    const client = new LinkSocksClient({ url, token, socksPort: 0, reconnect: true, reconnectDelayMs: 50 });
    stops.push(() => client.close());
    await client.start();
    return client;
  }

  function goPeer(peer: PeerHandle): void {
    stops.push(() => peer.stop());
  }

  it('forward: Go server, TS client: the SOCKS client is reset', async function () {
    const server = await startServer('go', { token: 'cut-fwd' });
    goPeer(server);
    const proxy = await proxyTo(server.wsPort);
    const client = await tsClient(proxy.url, 'cut-fwd');
    const started = { at: 0 };
    const outcome = await downloadAcrossCut(client.socksAddress()!.port, source.port, CUT_AFTER, () => {
      started.at = Date.now();
      proxy.cut();
    });
    expectPromptReset(outcome, started.at);
  });

  it('reverse: TS server, Go provider: the server\'s SOCKS client is reset', async function () {
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
    stops.push(() => server.close());
    await server.start();
    const socksPort = await freePort();
    server.addReverseToken({ token: 'cut-rev', port: socksPort });
    const proxy = await proxyTo(server.address().port);
    goPeer(await startProvider('go', { url: proxy.url, token: 'cut-rev' }));
    const started = { at: 0 };
    const outcome = await downloadAcrossCut(socksPort, source.port, CUT_AFTER, () => {
      started.at = Date.now();
      proxy.cut();
    });
    expectPromptReset(outcome, started.at);
  });

  it('agent: Go server and provider, TS connector, connector link cut: the connector\'s SOCKS client is reset', async function () {
    const server = await startServer('go', { token: 'cut-prov', reverse: true, connectorToken: 'cut-conn' });
    goPeer(server);
    goPeer(await startProvider('go', { url: server.url, token: 'cut-prov' }));
    const proxy = await proxyTo(server.wsPort);
    const connector = await tsClient(proxy.url, 'cut-conn');
    const started = { at: 0 };
    const outcome = await downloadAcrossCut(connector.socksAddress()!.port, source.port, CUT_AFTER, () => {
      started.at = Date.now();
      proxy.cut();
    });
    expectPromptReset(outcome, started.at);
  });
});

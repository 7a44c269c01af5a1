// A broken channel must look broken: when a WebSocket dies under a download, the SOCKS client's
// socket is reset (an error), never ended with a FIN that would make a truncated stream look whole.
import { expect } from 'chai';
import { LinkSocksClient } from '../../src/client/client.js';
import type { LinkSocksClientOptions } from '../../src/client/options.js';
import { LinkSocksServer } from '../../src/server/server.js';
import type { LinkSocksServerOptions } from '../../src/server/options.js';
import { freePort, LOCALHOST, startSourceServer } from '../helpers/net.js';
import type { TestServer } from '../helpers/net.js';
import { assertNoLeakedHandles, snapshotResources } from '../helpers/leaks.js';
import { downloadAcrossCut, startCutProxy } from './rig.js';
import type { CutProxy } from './rig.js';

const SIZE = 64 * 1024 * 1024;
const CUT_AFTER = 2 * 1024 * 1024;

class Scene {
  readonly servers: LinkSocksServer[] = [];
  readonly clients: LinkSocksClient[] = [];
  readonly proxies: CutProxy[] = [];
  source!: TestServer;
  private readonly handles = snapshotResources();

  async server(options: LinkSocksServerOptions = {}): Promise<LinkSocksServer> {
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0, transportGraceMs: 0, ...options });
    this.servers.push(server);
    await server.start();
    return server;
  }

  async client(options: LinkSocksClientOptions): Promise<LinkSocksClient> {
    const client = new LinkSocksClient({ socksPort: 0, reconnect: true, reconnectDelayMs: 50, transportGraceMs: 0, ...options });
    this.clients.push(client);
    await client.start();
    return client;
  }

  async proxy(server: LinkSocksServer): Promise<CutProxy> {
    const proxy = await startCutProxy(server.address().port);
    this.proxies.push(proxy);
    return proxy;
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
    await Promise.all(this.servers.map((s) => s.close()));
    await Promise.all(this.proxies.map((p) => p.close()));
    await this.source.close();
    await assertNoLeakedHandles(this.handles, { graceMs: 3000 });
  }
}

function expectReset(outcome: { ending: string; code: string | undefined; bytes: number }): void {
  expect(outcome.ending, `the SOCKS client saw a reset, not an end of stream (${outcome.bytes} bytes)`).to.equal('reset');
  expect(outcome.code).to.equal('ECONNRESET');
  expect(outcome.bytes).to.be.below(SIZE);
}

describe('reliability: a channel cut by a lost WebSocket is reset, not ended (grace 0)', function () {
  this.timeout(60_000);
  let scene: Scene;

  beforeEach(async function () {
    scene = new Scene();
    scene.source = await startSourceServer(SIZE);
  });

  afterEach(async function () {
    await scene.close();
  });

  it('forward: the client\'s SOCKS socket gets ECONNRESET', async function () {
    const server = await scene.server();
    server.addForwardToken('rst-fwd');
    const proxy = await scene.proxy(server);
    const client = await scene.client({ url: proxy.url, token: 'rst-fwd' });
    expectReset(await downloadAcrossCut(client.socksAddress()!.port, scene.source.port, CUT_AFTER, () => proxy.cut()));
  });

  it('reverse: the server\'s SOCKS socket gets ECONNRESET', async function () {
    const server = await scene.server();
    const port = await freePort();
    server.addReverseToken({ token: 'rst-rev', port });
    const proxy = await scene.proxy(server);
    await scene.client({ url: proxy.url, token: 'rst-rev', reverse: true });
    expectReset(await downloadAcrossCut(port, scene.source.port, CUT_AFTER, () => proxy.cut()));
  });

  for (const cutWhich of ['connector', 'provider'] as const) {
    it(`agent, ${cutWhich} link cut: the connector's SOCKS socket gets ECONNRESET`, async function () {
      const server = await scene.server();
      server.addReverseToken({ token: 'rst-prov', port: await freePort() });
      server.addConnectorToken('rst-conn', 'rst-prov');
      const providerPipe = await scene.proxy(server);
      const connectorPipe = await scene.proxy(server);
      await scene.client({ url: providerPipe.url, token: 'rst-prov', reverse: true });
      const connector = await scene.client({ url: connectorPipe.url, token: 'rst-conn' });
      const pipe = cutWhich === 'connector' ? connectorPipe : providerPipe;
      expectReset(await downloadAcrossCut(connector.socksAddress()!.port, scene.source.port, CUT_AFTER, () => pipe.cut()));
    });
  }
});

// A broken channel must look broken: when a WebSocket dies under a download, the SOCKS client's
// socket is reset (an error), never ended with a FIN that would make a truncated stream look whole.
import { expect } from 'chai';
import { freePort, startSourceServer } from '../helpers/net.js';
import type { TestServer } from '../helpers/net.js';
import { downloadAcrossCut } from './rig.js';
import { Scene } from './scene.js';

const SIZE = 64 * 1024 * 1024;
const CUT_AFTER = 2 * 1024 * 1024;

function expectReset(outcome: { ending: string; code: string | undefined; bytes: number }): void {
  expect(outcome.ending, `the SOCKS client saw a reset, not an end of stream (${outcome.bytes} bytes)`).to.equal('reset');
  expect(outcome.code).to.equal('ECONNRESET');
  expect(outcome.bytes).to.be.below(SIZE);
}

describe('reliability: a channel cut by a lost WebSocket is reset, not ended (grace 0)', function () {
  this.timeout(60_000);
  let scene: Scene;
  let source: TestServer;

  beforeEach(async function () {
    scene = new Scene({ server: { transportGraceMs: 0 }, client: { reconnect: true, reconnectDelayMs: 50, transportGraceMs: 0 } });
    source = await startSourceServer(SIZE);
    scene.extra.push(source);
  });

  afterEach(async function () {
    await scene.close();
  });

  it('forward: the client\'s SOCKS socket gets ECONNRESET', async function () {
    const server = await scene.server();
    server.addForwardToken('rst-fwd');
    const proxy = await scene.proxy(server);
    const client = await scene.client({ url: proxy.url, token: 'rst-fwd' });
    expectReset(await downloadAcrossCut(client.socksAddress()!.port, source.port, CUT_AFTER, () => proxy.cut()));
  });

  it('reverse: the server\'s SOCKS socket gets ECONNRESET', async function () {
    const server = await scene.server();
    const port = await freePort();
    server.addReverseToken({ token: 'rst-rev', port });
    const proxy = await scene.proxy(server);
    await scene.client({ url: proxy.url, token: 'rst-rev', reverse: true });
    expectReset(await downloadAcrossCut(port, source.port, CUT_AFTER, () => proxy.cut()));
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
      expectReset(await downloadAcrossCut(connector.socksAddress()!.port, source.port, CUT_AFTER, () => pipe.cut()));
    });
  }
});

import { expect } from 'chai';
import { LinkSocksClient } from '../../src/client/client.js';
import { attachMetrics, tokenLabel } from '../../src/metrics/metrics.js';
import { serveMetrics } from '../../src/metrics/http.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { freePort, startEchoServer, LOCALHOST } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { makePayload } from '../helpers/payload.js';
import { socksConnectReply, socksEcho, SocksReply } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

/** Value of one sample line (`name{labels} value`) of a Prometheus text exposition. */
function sample(text: string, name: string, labels = ''): number {
  const prefix = labels ? `${name}{${labels}} ` : `${name} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  if (!line) throw new Error(`no sample ${prefix.trim()} in:\n${text.split('\n').filter((l) => l.startsWith(name)).join('\n')}`);
  return Number(line.slice(prefix.length));
}

describe('Prometheus metrics', function () {
  checkNoLeaksAfterSuite();
  let echo: EchoServer;
  let server: LinkSocksServer;
  let client: LinkSocksClient;

  beforeEach(async function () {
    echo = await startEchoServer();
    server = new LinkSocksServer({ host: LOCALHOST, port: 0, metrics: true, apiKey: 'scrape-key' });
    server.addForwardToken('metrics-token');
    await server.start();
    client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'metrics-token', socksPort: 0 });
  });

  afterEach(async function () {
    await client.close();
    await server.close();
    await echo.close();
  });

  it('counts clients, channels, bytes, failures and reply codes on the server port, behind the API key', async function () {
    const clientRegistry = attachMetrics(client, { processMetrics: false });
    await client.start();
    const payload = makePayload(300_000, 2);
    await socksEcho(client.socksAddress()!.port, echo.port, payload);
    await socksEcho(client.socksAddress()!.port, echo.port, payload);
    expect(await socksConnectReply(client.socksAddress()!.port, LOCALHOST, await freePort())).to.equal(SocksReply.hostUnreachable);

    const url = `http://${LOCALHOST}:${server.address().port}/metrics`;
    expect((await fetch(url)).status).to.equal(401);
    const res = await fetch(url, { headers: { 'X-API-Key': 'scrape-key' } });
    expect(res.status).to.equal(200);
    const text = await res.text();
    expect(text).to.not.include('metrics-token');
    expect(sample(text, 'linksocks_clients_connected', `role="forward",token="${tokenLabel('metrics-token')}"`)).to.equal(1);
    expect(sample(text, 'linksocks_channels_opened_total', 'mode="forward"')).to.equal(2);
    expect(sample(text, 'linksocks_channels_failed_total', 'mode="forward"')).to.equal(1);
    expect(sample(text, 'linksocks_bytes_from_link_total')).to.equal(2 * payload.length);
    expect(sample(text, 'linksocks_bytes_to_link_total')).to.equal(2 * payload.length);

    const clientText = await clientRegistry.metrics();
    expect(sample(clientText, 'linksocks_socks_replies_total', 'code="0x00"')).to.equal(2);
    expect(sample(clientText, 'linksocks_socks_replies_total', 'code="0x04"')).to.equal(1);
    expect(sample(clientText, 'linksocks_connect_duration_seconds_count', 'mode="forward",result="ok"')).to.equal(2);
    expect(sample(clientText, 'linksocks_websocket_connections_total')).to.equal(1);
  });

  it('serves a client\'s metrics on its own listener', async function () {
    const registry = attachMetrics(client, { processMetrics: false });
    await client.start();
    const listener = await serveMetrics(registry, LOCALHOST, 0);
    try {
      const text = await (await fetch(`http://${LOCALHOST}:${listener.address.port}/metrics`)).text();
      expect(sample(text, 'linksocks_channels_open')).to.equal(0);
      expect((await fetch(`http://${LOCALHOST}:${listener.address.port}/other`)).status).to.equal(404);
    } finally {
      await listener.close();
    }
  });
});

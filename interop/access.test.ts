// Access control across implementations: a LinkSocks Go v1.7.15 forward client against our server
// with a token rule gets the refusal (a failed ConnectResponse, which it answers with a SOCKS5
// failure), and our provider with --access-rule refuses what a Go server asks it to dial. In both
// cases the refused target sees no connection. Go binary from LINKSOCKS_BIN.
import { expect } from 'chai';
import { LOCALHOST, startEchoServer, type EchoServer } from '../test/helpers/net.js';
import { makePayload } from '../test/helpers/payload.js';
import { socksConnectReply, socksEcho, SocksReply } from '../test/helpers/socks.js';
import { skipUnlessPeersAvailable } from './guard.js';
import { startClient, startProvider, startServer, type PeerHandle } from './peers.js';

describe('interop access control (requires LINKSOCKS_BIN)', function () {
  this.timeout(30_000);
  let echo: EchoServer;
  let other: EchoServer;
  const peers: PeerHandle[] = [];

  beforeEach(async function () {
    echo = await startEchoServer();
    other = await startEchoServer();
  });

  afterEach(async function () {
    for (const peer of peers.splice(0).reverse()) await peer.stop();
    await echo.close();
    await other.close();
  });

  it('go client, ts server: a forward token rule refuses a port (SOCKS5 failure at the Go client, no connection)', async function () {
    await skipUnlessPeersAvailable(this, ['go', 'ts']);
    const key = 'interop-access-key';
    const server = await startServer('ts', { token: 'unused', extraArgs: ['-k', key] });
    peers.push(server);
    const created = await fetch(`http://${LOCALHOST}:${server.wsPort}/api/token`, {
      method: 'POST',
      headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ type: 'forward', token: 'fwd', rules: [{ addrs: ['127.0.0.1'], ports: [echo.port] }] }),
    });
    expect(await created.json()).to.deep.equal({ success: true, token: 'fwd' });
    const client = await startClient('go', { url: server.url, token: 'fwd' });
    peers.push(client);
    const payload = makePayload(256 * 1024, 21);
    expect((await socksEcho(client.socksPort, echo.port, payload)).equals(payload)).to.equal(true);
    const reply = await socksConnectReply(client.socksPort, LOCALHOST, other.port);
    expect(reply).to.not.equal(SocksReply.succeeded);
    expect(other.connections).to.equal(0);
  });

  it('ts provider with --access-rule, go server: the refused target is never dialled', async function () {
    await skipUnlessPeersAvailable(this, ['go', 'ts']);
    const server = await startServer('go', { token: 'rev', reverse: true });
    peers.push(server);
    const provider = await startProvider('ts', { url: server.url, token: 'rev', extraArgs: ['--access-rule', `127.0.0.1:${echo.port}`] });
    peers.push(provider);
    const payload = makePayload(256 * 1024, 22);
    expect((await socksEcho(server.socksPort!, echo.port, payload)).equals(payload)).to.equal(true);
    expect(await socksConnectReply(server.socksPort!, LOCALHOST, other.port)).to.equal(SocksReply.hostUnreachable);
    expect(other.connections).to.equal(0);
  });
});

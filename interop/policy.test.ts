// Token policy with LinkSocks Go v1.7.15 peers under our server: a Go forward client is limited by
// max_channels like ours (the refused Connect comes back as a SOCKS5 failure, the target sees
// no connection) and the limit is raised live; a Go provider's SOCKS port refuses with 0x02 over
// the limit; a Go client of a disabled token is refused at authentication and exits.
// Go binary from LINKSOCKS_BIN.
import { expect } from 'chai';
import type net from 'node:net';
import { freePort, LOCALHOST, startEchoServer, type EchoServer } from '../test/helpers/net.js';
import { sendAndCollect } from '../test/helpers/payload.js';
import { socksConnect, socksConnectReply, SocksReply } from '../test/helpers/socks.js';
import { skipUnlessPeersAvailable } from './guard.js';
import { runClientExpectingExit, startClient, startProvider, startServer, type PeerHandle, type ServerHandle } from './peers.js';

const KEY = 'interop-policy-key';

async function api(server: ServerHandle, method: string, urlPath: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://${LOCALHOST}:${server.wsPort}${urlPath}`, {
    method,
    headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('interop token policy (requires LINKSOCKS_BIN)', function () {
  this.timeout(40_000);
  let echo: EchoServer;
  const peers: PeerHandle[] = [];
  const held: net.Socket[] = [];

  beforeEach(async function () {
    echo = await startEchoServer();
  });

  afterEach(async function () {
    for (const socket of held.splice(0)) socket.destroy();
    for (const peer of peers.splice(0).reverse()) await peer.stop();
    await echo.close();
  });

  const tunnel = async (port: number): Promise<net.Socket> => {
    const socket = await socksConnect({ proxyPort: port, host: LOCALHOST, port: echo.port });
    socket.on('error', () => undefined);
    held.push(socket);
    expect((await sendAndCollect(socket, Buffer.from('ping'))).toString()).to.equal('ping');
    return socket;
  };

  it('go client, ts server: max_channels refuses the third Connect, the target sees two; raised live', async function () {
    await skipUnlessPeersAvailable(this, ['go', 'ts']);
    const server = await startServer('ts', { token: 'unused', extraArgs: ['-k', KEY] });
    peers.push(server);
    expect((await api(server, 'POST', '/api/token', { type: 'forward', token: 'fwd', max_channels: 2 })).body).to.deep.equal({ success: true, token: 'fwd' });
    const client = await startClient('go', { url: server.url, token: 'fwd' });
    peers.push(client);
    await tunnel(client.socksPort);
    await tunnel(client.socksPort);
    expect(await socksConnectReply(client.socksPort, LOCALHOST, echo.port)).to.not.equal(SocksReply.succeeded);
    expect(echo.connections).to.equal(2);
    expect((await api(server, 'PATCH', '/api/token/fwd', { max_channels: 3 })).status).to.equal(200);
    await tunnel(client.socksPort);
    expect(echo.connections).to.equal(3);
  });

  it('go provider, ts server: the reverse port answers 0x02 over max_channels', async function () {
    await skipUnlessPeersAvailable(this, ['go', 'ts']);
    const server = await startServer('ts', { token: 'unused', extraArgs: ['-k', KEY] });
    peers.push(server);
    const port = await freePort();
    expect((await api(server, 'POST', '/api/token', { type: 'reverse', token: 'rev', port, max_channels: 1 })).body).to.deep.equal({ success: true, token: 'rev', port });
    peers.push(await startProvider('go', { url: server.url, token: 'rev' }));
    await tunnel(port);
    expect(await socksConnectReply(port, LOCALHOST, echo.port)).to.equal(SocksReply.notAllowed);
    expect(echo.connections).to.equal(1);
  });

  it('go client of a disabled token is refused at authentication and exits; enabled, it is accepted', async function () {
    await skipUnlessPeersAvailable(this, ['go', 'ts']);
    const server = await startServer('ts', { token: 'unused', extraArgs: ['-k', KEY] });
    peers.push(server);
    await api(server, 'POST', '/api/token', { type: 'forward', token: 'fwd' });
    expect((await api(server, 'PATCH', '/api/token/fwd', { disabled: true })).body).to.deep.equal({ success: true, token: 'fwd', policy: { disabled: true } });
    const { exit } = await runClientExpectingExit('go', { url: server.url, token: 'fwd' });
    expect(exit.code).to.not.equal(0);
    await api(server, 'PATCH', '/api/token/fwd', { disabled: false });
    const client = await startClient('go', { url: server.url, token: 'fwd' });
    peers.push(client);
    await tunnel(client.socksPort);
  });
});

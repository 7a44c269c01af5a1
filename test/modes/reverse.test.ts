import { expect } from 'chai';
import type net from 'node:net';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { endingOf, freePort, startEchoServer, LOCALHOST, withTimeout } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { makePayload, sendAndCollect } from '../helpers/payload.js';
import { socksConnect, socksConnectReply, socksEcho, SocksReply } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

interface Rig {
  server: LinkSocksServer;
  echo: EchoServer;
  clients: LinkSocksClient[];
  url: string;
}

async function startRig(options: ConstructorParameters<typeof LinkSocksServer>[0] = {}): Promise<Rig> {
  const echo = await startEchoServer();
  const server = new LinkSocksServer({ host: LOCALHOST, port: 0, ...options });
  await server.start();
  return { server, echo, clients: [], url: `ws://${LOCALHOST}:${server.address().port}` };
}

async function stopRig(rig: Rig): Promise<void> {
  await Promise.all(rig.clients.map((c) => c.close()));
  await rig.server.close();
  await rig.echo.close();
}

async function startClient(rig: Rig, options: ConstructorParameters<typeof LinkSocksClient>[0]): Promise<LinkSocksClient> {
  const client = new LinkSocksClient({ url: rig.url, socksPort: 0, ...options });
  rig.clients.push(client);
  await client.start();
  return client;
}

describe('reverse mode (TS server, TS providers)', function () {
  checkNoLeaksAfterSuite();
  let rig: Rig;
  let socksPort: number;
  const sockets: net.Socket[] = [];

  beforeEach(async function () {
    rig = await startRig({ providerWaitMs: 300 });
    socksPort = await freePort();
    rig.server.addReverseToken({ token: 'rev', port: socksPort });
  });

  afterEach(async function () {
    for (const s of sockets.splice(0)) s.destroy();
    await stopRig(rig);
  });

  it('opens the SOCKS port with the first provider and relays 4 MiB intact', async function () {
    await startClient(rig, { token: 'rev', reverse: true });
    const payload = makePayload(4 * 1024 * 1024, 11);
    const echoed = await socksEcho(socksPort, rig.echo.port, payload);
    expect(echoed.equals(payload)).to.equal(true);
  });

  it('spreads 300 connections over 3 providers evenly (round robin)', async function () {
    this.timeout(60_000);
    const providers = [];
    for (let i = 0; i < 3; i += 1) providers.push(await startClient(rig, { token: 'rev', reverse: true }));
    for (let batch = 0; batch < 10; batch += 1) {
      await Promise.all(Array.from({ length: 30 }, () => socksEcho(socksPort, rig.echo.port, Buffer.from('x'))));
    }
    const counts = providers.map((p) => p.counters.channelsOpened);
    expect(counts.reduce((a, b) => a + b, 0)).to.equal(300);
    for (const count of counts) expect(count).to.be.within(99, 101);
  });

  it('closes SOCKS sockets at once when their provider goes away, and uses the others', async function () {
    const first = await startClient(rig, { token: 'rev', reverse: true });
    const socket = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: rig.echo.port });
    sockets.push(socket);
    await sendAndCollect(socket, Buffer.from('before'));
    const ending = endingOf(socket);
    await startClient(rig, { token: 'rev', reverse: true });
    await first.close();
    expect(await withTimeout(ending, 3000, 'SOCKS socket of the lost provider closed')).to.equal('ECONNRESET');
    for (let i = 0; i < 4; i += 1) {
      expect((await socksEcho(socksPort, rig.echo.port, Buffer.from('after'))).toString()).to.equal('after');
    }
  });

  it('refuses with 0x03 when no provider arrives in time', async function () {
    const provider = await startClient(rig, { token: 'rev', reverse: true });
    await provider.close();
    expect(await socksConnectReply(socksPort, LOCALHOST, rig.echo.port)).to.equal(SocksReply.networkUnreachable);
  });

  it('requires the token credentials on the SOCKS port when set', async function () {
    const port = await freePort();
    rig.server.addReverseToken({ token: 'rev-auth', port, username: 'u', password: 'p' });
    await startClient(rig, { token: 'rev-auth', reverse: true });
    const socket = await socksConnect({ proxyPort: port, host: LOCALHOST, port: rig.echo.port, userId: 'u', password: 'p' });
    sockets.push(socket);
    await sendAndCollect(socket, Buffer.from('authed'));
    const wrong = socksConnect({ proxyPort: port, host: LOCALHOST, port: rig.echo.port, userId: 'u', password: 'bad' });
    await wrong.then(
      (s) => {
        s.destroy();
        throw new Error('wrong password accepted');
      },
      (err: Error) => expect(err.message).to.match(/auth/i),
    );
  });

  it('closes the SOCKS port and providers when the token is removed', async function () {
    const provider = await startClient(rig, { token: 'rev', reverse: true });
    const gone = new Promise((resolve) => provider.once('disconnected', resolve));
    expect(rig.server.removeToken('rev')).to.equal(true);
    await withTimeout(gone, 3000, 'provider disconnected');
    expect(rig.server.socksAddress('rev')).to.equal(undefined);
  });
});

describe('agent mode (connector tokens)', function () {
  checkNoLeaksAfterSuite();
  let rig: Rig;

  beforeEach(async function () {
    rig = await startRig({ connectorWaitProviderMs: 300 });
    rig.server.addReverseToken({ token: 'prov', port: await freePort() });
    rig.server.addConnectorToken('conn', 'prov');
  });

  afterEach(async function () {
    await stopRig(rig);
  });

  it('routes a connector\'s channels to the provider, 2 MiB intact, 8 in parallel', async function () {
    await startClient(rig, { token: 'prov', reverse: true });
    const connector = await startClient(rig, { token: 'conn' });
    const port = connector.socksAddress()!.port;
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => socksEcho(port, rig.echo.port, makePayload(2 * 1024 * 1024, 100 + i))),
    );
    results.forEach((r, i) => expect(r.equals(makePayload(2 * 1024 * 1024, 100 + i))).to.equal(true));
  });

  it('works with fast open on the connector (data sent before the provider answers is kept)', async function () {
    await startClient(rig, { token: 'prov', reverse: true });
    const connector = await startClient(rig, { token: 'conn', fastOpen: true });
    const echoed = await socksEcho(connector.socksAddress()!.port, rig.echo.port, makePayload(512 * 1024, 5));
    expect(echoed.equals(makePayload(512 * 1024, 5))).to.equal(true);
  });

  it('answers 0x04 on the connector when there is no provider', async function () {
    const connector = await startClient(rig, { token: 'conn' });
    expect(await socksConnectReply(connector.socksAddress()!.port, LOCALHOST, rig.echo.port)).to.equal(SocksReply.hostUnreachable);
  });

  it('tells the connector when the provider goes away (its SOCKS socket is reset)', async function () {
    const provider = await startClient(rig, { token: 'prov', reverse: true });
    const connector = await startClient(rig, { token: 'conn' });
    const socket = await socksConnect({ proxyPort: connector.socksAddress()!.port, host: LOCALHOST, port: rig.echo.port });
    try {
      await sendAndCollect(socket, Buffer.from('hi'));
      const ending = endingOf(socket);
      await provider.close();
      expect(await withTimeout(ending, 3000, 'connector SOCKS socket closed')).to.equal('ECONNRESET');
    } finally {
      socket.destroy();
    }
  });

  it('announces partners to the connector', async function () {
    await startClient(rig, { token: 'prov', reverse: true });
    const connector = await startClient(rig, { token: 'conn' });
    if (connector.partnersCount !== 1) await withTimeout(new Promise((r) => connector.once('partners', r)), 3000, 'partners');
    expect(connector.partnersCount).to.equal(1);
  });
});

describe('autonomy mode', function () {
  checkNoLeaksAfterSuite();
  let rig: Rig;

  beforeEach(async function () {
    rig = await startRig({ connectorWaitProviderMs: 300 });
    rig.server.addReverseToken({ token: 'auto', allowManageConnector: true });
  });

  afterEach(async function () {
    await stopRig(rig);
  });

  it('lets a provider add its own connector token and serves it', async function () {
    const provider = await startClient(rig, { token: 'auto', reverse: true });
    expect(await provider.addConnector('mine')).to.equal('mine');
    const connector = await startClient(rig, { token: 'mine' });
    const echoed = await socksEcho(connector.socksAddress()!.port, rig.echo.port, makePayload(1024 * 1024, 9));
    expect(echoed.equals(makePayload(1024 * 1024, 9))).to.equal(true);
  });

  it('keeps providers isolated: a connector only reaches the provider that created it', async function () {
    const a = await startClient(rig, { token: 'auto', reverse: true });
    const b = await startClient(rig, { token: 'auto', reverse: true });
    await a.addConnector('for-a');
    await b.addConnector('for-b');
    const connector = await startClient(rig, { token: 'for-a' });
    for (let i = 0; i < 6; i += 1) await socksEcho(connector.socksAddress()!.port, rig.echo.port, Buffer.from('x'));
    expect(a.counters.channelsOpened).to.equal(6);
    expect(b.counters.channelsOpened).to.equal(0);
  });

  it('generates a connector token when none is given, and re-adding the same one is idempotent', async function () {
    const provider = await startClient(rig, { token: 'auto', reverse: true });
    const generated = await provider.addConnector('');
    expect(generated).to.match(/^[0-9a-f]{16}$/);
    expect(await provider.addConnector(generated)).to.equal(generated);
  });

  it('refuses connector management to providers of plain reverse tokens and to removing others\' tokens', async function () {
    rig.server.addReverseToken({ token: 'plain', port: await freePort() });
    const plain = await startClient(rig, { token: 'plain', reverse: true });
    const err = await plain.addConnector('x').then(() => undefined, (e: Error) => e);
    expect(err?.message).to.equal('Unauthorized connector management attempt');
    const a = await startClient(rig, { token: 'auto', reverse: true });
    const b = await startClient(rig, { token: 'auto', reverse: true });
    await a.addConnector('owned-by-a');
    const removeErr = await b.removeConnector('owned-by-a').then(() => undefined, (e: Error) => e);
    expect(removeErr?.message).to.equal('Unauthorized connector management attempt');
    await a.removeConnector('owned-by-a');
  });
});

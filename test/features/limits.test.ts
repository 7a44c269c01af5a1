import { expect } from 'chai';
import type net from 'node:net';
import { LinkSocksClient } from '../../src/client/client.js';
import { AuthError } from '../../src/client/errors.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { startEchoServer, LOCALHOST } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { sendAndCollect } from '../helpers/payload.js';
import { socksConnect, socksConnectReply, SocksReply } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

describe('server limits', function () {
  checkNoLeaksAfterSuite();
  let echo: EchoServer;
  let server: LinkSocksServer;
  const clients: LinkSocksClient[] = [];
  const sockets: net.Socket[] = [];

  async function startServer(options: ConstructorParameters<typeof LinkSocksServer>[0]): Promise<string> {
    server = new LinkSocksServer({ host: LOCALHOST, port: 0, ...options });
    server.addForwardToken('t');
    await server.start();
    return `ws://${LOCALHOST}:${server.address().port}`;
  }

  async function client(url: string, token = 't'): Promise<LinkSocksClient> {
    const c = new LinkSocksClient({ url, token, socksPort: 0 });
    clients.push(c);
    await c.start();
    return c;
  }

  beforeEach(async function () {
    echo = await startEchoServer();
  });

  afterEach(async function () {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.close();
    await echo.close();
  });

  it('answers upgrades with 429 after too many failed authentications from one address', async function () {
    const url = await startServer({ authRateLimit: { burst: 3, refillPerSecond: 0.01 } });
    for (let i = 0; i < 3; i += 1) {
      const err = await client(url, 'wrong').then(() => undefined, (e: unknown) => e);
      expect(err).to.be.instanceOf(AuthError);
    }
    // Even the right token is refused now: the address is limited before any WebSocket is made.
    const limited = await client(url, 't').then(() => undefined, (e: Error) => e);
    expect(limited?.message).to.match(/429/);
  });

  it('refuses a channel beyond the per-WebSocket limit with a failed connect', async function () {
    const url = await startServer({ maxChannelsPerLink: 2 });
    const c = await client(url);
    const port = c.socksAddress()!.port;
    for (let i = 0; i < 2; i += 1) {
      const s = await socksConnect({ proxyPort: port, host: LOCALHOST, port: echo.port });
      sockets.push(s);
      await sendAndCollect(s, Buffer.from('open'));
    }
    expect(await socksConnectReply(port, LOCALHOST, echo.port)).to.equal(SocksReply.hostUnreachable);
    sockets.pop()!.destroy();
  });

  it('refuses a WebSocket beyond the per-token connection limit', async function () {
    const url = await startServer({ maxConnectionsPerToken: 1 });
    await client(url);
    const err = await client(url).then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(AuthError);
    expect((err as AuthError).serverReason).to.equal('too many connections for this token');
  });
});

// Tokens managed through the HTTP API take effect on live traffic (../shared/spec/API.md §4.2):
// a reverse token added by the API serves SOCKS5 once a provider joins, and deleting it closes
// its port and disconnects the provider; a forward token works at once and shows in /api/status.
import net from 'node:net';
import { expect } from 'chai';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { freePort, startEchoServer, waitForEvent, type EchoServer } from '../helpers/net.js';
import { socksEcho } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';

const KEY = 'KEY';

interface StatusEntry {
  token: string;
  type: string;
  clients_count: number;
  port?: number;
}

describe('HTTP API end to end', () => {
  checkNoLeaksAfterSuite();
  let server: LinkSocksServer;
  let echo: EchoServer;
  let base: string;
  let clients: LinkSocksClient[] = [];

  const api = async (method: string, path: string, body?: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { 'X-API-Key': KEY },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    expect(response.status, `${method} ${path}`).to.equal(200);
    return (await response.json()) as Record<string, unknown>;
  };

  const client = (options: ConstructorParameters<typeof LinkSocksClient>[0]): LinkSocksClient => {
    const created = new LinkSocksClient({ url: base.replace('http:', 'ws:'), ...options });
    clients.push(created);
    return created;
  };

  beforeEach(async () => {
    echo = await startEchoServer();
    server = new LinkSocksServer({ host: '127.0.0.1', port: 0, apiKey: KEY });
    await server.start();
    base = `http://127.0.0.1:${server.address().port}`;
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
    await server.close();
    await echo.close();
  });

  it('serves a reverse token added by the API and tears it down on DELETE', async () => {
    const port = await freePort();
    expect(await api('POST', '/api/token', { type: 'reverse', token: 'rev-e2e', port })).to.deep.equal({ success: true, token: 'rev-e2e', port });

    const provider = client({ token: 'rev-e2e', reverse: true });
    await provider.start();
    expect(server.socksAddress('rev-e2e')?.port).to.equal(port);
    const payload = Buffer.from('through the API-made reverse token');
    expect(await socksEcho(port, echo.port, payload)).to.deep.equal(payload);

    const disconnected = waitForEvent(provider, 'disconnected', 5000);
    expect(await api('DELETE', '/api/token/rev-e2e')).to.deep.equal({ success: true, token: 'rev-e2e' });
    await disconnected;

    // The listener is closed (not just emptied): a new connection is refused.
    expect(server.socksAddress('rev-e2e')).to.equal(undefined);
    const probe = net.connect(port, '127.0.0.1');
    const [err] = await waitForEvent<[NodeJS.ErrnoException]>(probe, 'error', 5000);
    probe.destroy();
    expect(err.code).to.equal('ECONNREFUSED');
    const status = (await api('GET', '/api/status')) as { tokens: StatusEntry[] };
    expect(status.tokens).to.deep.equal([]);
  });

  it('accepts a forward client on a token added while running and counts it in the status', async () => {
    expect(await api('POST', '/api/token', { type: 'forward', token: 'fwd-e2e' })).to.deep.equal({ success: true, token: 'fwd-e2e' });
    expect(await api('POST', '/api/token', { type: 'forward', token: 'fwd-idle' })).to.deep.equal({ success: true, token: 'fwd-idle' });

    const forward = client({ token: 'fwd-e2e', socksPort: 0 });
    await forward.start();
    const socksPort = forward.socksAddress()!.port;
    const payload = Buffer.from('through the API-made forward token');
    expect(await socksEcho(socksPort, echo.port, payload)).to.deep.equal(payload);

    const status = (await api('GET', '/api/status')) as { tokens: StatusEntry[] };
    const byToken = new Map(status.tokens.map((entry) => [entry.token, entry]));
    expect(byToken.get('fwd-e2e')).to.deep.equal({ token: 'fwd-e2e', type: 'forward', clients_count: 1 });
    // API.md §5: an idle forward token counts 0 (Go would report the server's total here).
    expect(byToken.get('fwd-idle')).to.deep.equal({ token: 'fwd-idle', type: 'forward', clients_count: 0 });
  });

  it('disconnects a forward client when its token is deleted', async () => {
    await api('POST', '/api/token', { type: 'forward', token: 'fwd-gone' });
    const forward = client({ token: 'fwd-gone', socksPort: 0 });
    await forward.start();
    const disconnected = waitForEvent(forward, 'disconnected', 5000);
    expect(await api('DELETE', '/api/token', { token: 'fwd-gone' })).to.deep.equal({ success: true, token: 'fwd-gone' });
    await disconnected;
    const status = (await api('GET', '/api/status')) as { tokens: StatusEntry[] };
    expect(status.tokens).to.deep.equal([]);
  });
});

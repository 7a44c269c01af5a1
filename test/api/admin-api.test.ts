// [linksocks-ts] read-only routes (/api/clients, /api/tokens, /api/stats, /api/events) and the
// admin page's static files, against a real server with a real provider and SOCKS client.
import { expect } from 'chai';
import { gunzipSync } from 'node:zlib';
import http from 'node:http';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { AdminAssets } from '../../src/api/admin-assets.js';
import type { AdminEvent, LiveStats } from '../../src/server/admin-feed.js';
import type { ClientEntry, TokenDetailEntry } from '../../src/server/admin-views.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { freePort, LOCALHOST, startEchoServer, type EchoServer } from '../helpers/net.js';
import { makePayload, sendAndCollect } from '../helpers/payload.js';
import { socksConnect } from '../helpers/socks.js';
import { waitForValue } from '../helpers/wait.js';

const KEY = 'K3Y';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(port: number, method: string, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: LOCALHOST, port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('[linksocks-ts] admin API routes and page', function () {
  let server: LinkSocksServer;
  let echo: EchoServer;
  let port: number;
  const clients: LinkSocksClient[] = [];

  const get = (path: string, key: string | null = KEY): Promise<Answer> => request(port, 'GET', path, key === null ? {} : { 'X-API-Key': key });
  const json = async <T>(path: string): Promise<T> => {
    const answer = await get(path);
    expect(answer.status, path).to.equal(200);
    expect(answer.headers['content-type']).to.equal('application/json; charset=utf-8');
    return JSON.parse(answer.body.toString('utf8')) as T;
  };

  const reversePort = (token: string): number => server.status().tokens.find((t) => t.token === token)?.port ?? 0;

  before(async function () {
    echo = await startEchoServer();
    server = new LinkSocksServer({ host: LOCALHOST, port: 0, apiKey: KEY });
    await server.start();
    port = server.address().port;
  });

  after(async function () {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.close();
    await echo.close();
  });
  checkNoLeaksAfterSuite();

  it('refuses every new route without the key, like the Go-compatible ones', async function () {
    for (const path of ['/api/clients', '/api/tokens', '/api/stats', '/api/events']) {
      for (const key of [null, 'wrong', '']) {
        const answer = await get(path, key);
        expect(answer.status, `${path} key=${key}`).to.equal(401);
        expect(JSON.parse(answer.body.toString())).to.deep.equal({ success: false, error: 'invalid API key' });
      }
    }
  });

  it('answers 405 to anything but GET and HEAD', async function () {
    for (const method of ['POST', 'DELETE', 'PUT']) {
      const answer = await request(port, method, '/api/clients', { 'X-API-Key': KEY });
      expect(answer.status).to.equal(405);
      expect(answer.headers['allow']).to.equal('GET, HEAD');
    }
    expect((await request(port, 'POST', '/admin')).status).to.equal(405);
  });

  it('lists tokens with kind, port and SOCKS user, never the password', async function () {
    const socksPort = await freePort();
    server.addReverseToken({ token: 'rev', port: socksPort, username: 'alice', password: 'pw-not-shown' });
    server.addReverseToken({ token: 'auto', allowManageConnector: true });
    server.addConnectorToken('conn', 'rev');
    server.addForwardToken('fwd');
    const answer = await get('/api/tokens');
    expect(answer.body.toString()).not.to.contain('pw-not-shown');
    const { tokens } = JSON.parse(answer.body.toString()) as { tokens: TokenDetailEntry[] };
    expect(tokens).to.deep.equal([
      { token: 'rev', kind: 'reverse', clients_count: 0, port: socksPort, socks_username: 'alice', socks_password_set: true, usage: { channels: 0, bytes_up: 0, bytes_down: 0 } },
      { token: 'auto', kind: 'autonomy', clients_count: 0, port: -1, usage: { channels: 0, bytes_up: 0, bytes_down: 0 } },
      { token: 'conn', kind: 'connector', clients_count: 0, reverse_token: 'rev', usage: { channels: 0, bytes_up: 0, bytes_down: 0 } },
      { token: 'fwd', kind: 'forward', clients_count: 0, usage: { channels: 0, bytes_up: 0, bytes_down: 0 } },
    ]);
  });

  it('lists each token with its strategy and policy when it has them', async function () {
    server.addReverseToken({ token: 'pol-rev', strategy: 'sticky', policy: { maxChannels: 5, quotaBytes: 1000, quotaPeriodMs: 86_400_000 } });
    server.addForwardToken('pol-fwd', undefined, { rateLimit: 2000 });
    server.updateToken('pol-fwd', { disabled: true });
    const { tokens } = await json<{ tokens: TokenDetailEntry[] }>('/api/tokens');
    const byName = new Map(tokens.map((t) => [t.token, t]));
    expect(byName.get('pol-rev')).to.include({ strategy: 'sticky' });
    expect(byName.get('pol-rev')?.policy).to.deep.equal({ max_channels: 5, quota_bytes: 1000, quota_period: '1d' });
    expect(byName.get('pol-rev')?.usage).to.include({ channels: 0 });
    expect(byName.get('pol-fwd')?.policy).to.deep.equal({ rate_limit: 2000, disabled: true });
    server.removeToken('pol-rev');
    server.removeToken('pol-fwd');
  });

  it('lists connected clients with role, address, instance, channels and bytes each way', async function () {
    const url = `ws://${LOCALHOST}:${port}`;
    const provider = new LinkSocksClient({ url, token: 'rev', reverse: true });
    const forward = new LinkSocksClient({ url, token: 'fwd', socksPort: 0 });
    clients.push(provider, forward);
    await provider.start();
    await forward.start();
    const before = (await json<{ clients: ClientEntry[] }>('/api/clients')).clients;
    expect(before.map((c) => [c.token, c.role])).to.have.deep.members([
      ['rev', 'provider'],
      ['fwd', 'forward'],
    ]);
    const entry = before.find((c) => c.role === 'provider')!;
    expect(entry.remote_address).to.match(/^127\.0\.0\.1:\d+$/);
    expect(entry.instance).to.match(/^[0-9a-f-]{36}$/);
    expect(Date.now() - Date.parse(entry.connected_at)).to.be.within(0, 30_000);
    expect(entry.channels).to.equal(0);

    const payload = makePayload(1024 * 1024, 3);
    const socksPort = reversePort('rev');
    const socket = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: echo.port, userId: 'alice', password: 'pw-not-shown' });
    try {
      expect((await sendAndCollect(socket, payload)).equals(payload)).to.equal(true);
    } finally {
      socket.destroy();
    }
    const after = (await json<{ clients: ClientEntry[] }>('/api/clients')).clients.find((c) => c.id === entry.id)!;
    // The provider received the payload and sent it back, framing on top.
    expect(after.bytes_in - entry.bytes_in).to.be.within(payload.length, payload.length * 1.05);
    expect(after.bytes_out - entry.bytes_out).to.be.within(payload.length, payload.length * 1.05);
    const status = JSON.parse((await get('/api/status')).body.toString()) as { tokens: { token: string; clients_count: number }[] };
    expect(status.tokens.find((t) => t.token === 'rev')?.clients_count).to.equal(1);
  });

  it('reports live figures, and records connections and token changes as events', async function () {
    const stats = await json<LiveStats>('/api/stats');
    expect(stats.interval_ms).to.equal(2000);
    expect(stats.draining).to.equal(false);
    expect(stats.clients).to.equal(2);
    expect(stats.channels_opened_total).to.be.at.least(1);
    expect(stats.bytes_in_total).to.be.at.least(1024 * 1024);
    expect(stats.history).to.be.an('array');
    const later = await json<LiveStats>(`/api/stats?since=${Date.now() + 60_000}`);
    expect(later.history).to.deep.equal([]);

    const { events } = await json<{ events: AdminEvent[] }>('/api/events?limit=50');
    const messages = events.map((e) => e.message);
    expect(messages).to.include('reverse token rev added, SOCKS5 port ' + reversePort('rev'));
    expect(messages).to.include('provider connected (token rev)');
    expect(events[0]!.id).to.be.greaterThan(events[events.length - 1]!.id);
    expect((await json<{ events: AdminEvent[] }>('/api/events?limit=1')).events).to.have.length(1);
  });

  it('compresses larger answers when the client accepts gzip', async function () {
    for (let i = 0; i < 10; i += 1) server.addForwardToken(`bulk-${i}`);
    const answer = await request(port, 'GET', '/api/events', { 'X-API-Key': KEY, 'Accept-Encoding': 'gzip, deflate' });
    expect(answer.headers['content-encoding']).to.equal('gzip');
    expect(answer.headers['content-type']).to.equal('application/json; charset=utf-8');
    const plain = await get('/api/events');
    expect(plain.headers['content-encoding']).to.equal(undefined);
    expect(gunzipSync(answer.body).equals(plain.body)).to.equal(true);
    expect(answer.body.length).to.be.below(plain.body.length / 2);
    for (let i = 0; i < 10; i += 1) server.removeToken(`bulk-${i}`);
  });

  it('lists a failed authentication with its address, folded per address', async function () {
    for (let i = 0; i < 3; i += 1) {
      const bad = new LinkSocksClient({ url: `ws://${LOCALHOST}:${port}`, token: 'no-such-token', reverse: true, reconnect: false });
      await bad.start().catch(() => undefined);
      await bad.close();
    }
    const { events } = await json<{ events: AdminEvent[] }>('/api/events');
    const failures = events.filter((e) => e.kind === 'auth-failed');
    expect(failures).to.have.length(1);
    expect(failures[0]!.remote_address).to.equal(LOCALHOST);
    expect(failures[0]!.count).to.equal(3);
    expect(failures[0]!.message).to.equal('authentication failed: invalid token');
  });

  it('disconnects a removed token\'s provider and says so in the events', async function () {
    server.removeToken('rev');
    await waitForValue(() => server.clients().filter((c) => c.token === 'rev').length, 0, 'provider gone');
    const { events } = await json<{ events: AdminEvent[] }>('/api/events');
    expect(events.map((e) => e.message)).to.include.members(['reverse token rev removed', 'provider disconnected (token rev)']);
  });

  it('serves the page, its script and style gzip-compressed with CSP, nosniff and no-referrer', async function () {
    const page = await request(port, 'GET', '/admin', { 'Accept-Encoding': 'gzip' });
    expect(page.status).to.equal(200);
    expect(page.headers['content-type']).to.equal('text/html; charset=utf-8');
    expect(page.headers['content-encoding']).to.equal('gzip');
    expect(page.headers['content-security-policy']).to.equal(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(page.headers['x-content-type-options']).to.equal('nosniff');
    expect(page.headers['referrer-policy']).to.equal('no-referrer');
    const html = gunzipSync(page.body).toString();
    expect(html).to.contain('<script src="admin/admin.js" defer></script>');
    expect(html).not.to.match(/<script>|\son\w+=|\sstyle=/);
    const script = await request(port, 'GET', '/admin/admin.js');
    expect(script.headers['content-type']).to.equal('text/javascript; charset=utf-8');
    expect(script.body.toString()).not.to.match(/\binnerHTML\b|\beval\(|new Function/);
    const again = await request(port, 'GET', '/admin/admin.js', { 'If-None-Match': String(script.headers['etag']) });
    expect(again.status).to.equal(304);
    expect((await request(port, 'GET', '/admin/nope.js')).status).to.equal(404);
    const slash = await request(port, 'GET', '/admin/');
    expect([slash.status, slash.headers['location']]).to.deep.equal([301, '../admin']);
  });

  it('keeps the whole page under 16 KiB on the wire', function () {
    const size = new AdminAssets().transferSize();
    expect(size.gzip).to.be.below(16 * 1024);
  });

  it('has no admin page and no new routes without an API key', async function () {
    const bare = new LinkSocksServer({ host: LOCALHOST, port: 0 });
    await bare.start();
    try {
      for (const path of ['/admin', '/admin/admin.js', '/api/clients', '/api/stats']) {
        expect((await request(bare.address().port, 'GET', path)).status, path).to.equal(404);
      }
    } finally {
      await bare.close();
    }
  });
});

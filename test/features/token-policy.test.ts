// Token policy end to end on a real server: the API fields (POST, PATCH, status, 400/404, nothing
// half-applied), max_channels on a reverse SOCKS port, the HTTP proxy side (429) and a forward
// client, changed live while channels are open; expiry with a provider connected; disable and
// enable; the state file keeping the policy across a restart.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { LinkSocksClient } from '../../src/client/client.js';
import { AuthError } from '../../src/client/errors.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { freePort, LOCALHOST, startEchoServer, startUdpEchoServer, waitForEvent, type EchoServer } from '../helpers/net.js';
import { sendAndCollect } from '../helpers/payload.js';
import { socksConnect, socksConnectReply, SocksReply, socksUdpRoundTrip } from '../helpers/socks.js';
import { connectHttp } from '../helpers/http-connect-client.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { waitForValue } from '../helpers/wait.js';

const KEY = 'policy-key';

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

async function api(server: LinkSocksServer, method: string, urlPath: string, body?: unknown): Promise<Reply> {
  const response = await fetch(`http://${LOCALHOST}:${server.address().port}${urlPath}`, {
    method,
    headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

type StatusToken = { token: string; policy?: Record<string, unknown>; usage?: Record<string, number> };

async function statusOf(server: LinkSocksServer, token: string): Promise<StatusToken | undefined> {
  const reply = await api(server, 'GET', '/api/status');
  return (reply.body['tokens'] as StatusToken[]).find((entry) => entry.token === token);
}

/** A tunnel through a SOCKS port (no auth) to the echo server, checked with one round trip. */
async function tunnel(port: number, echo: EchoServer): Promise<net.Socket> {
  const socket = await socksConnect({ proxyPort: port, host: LOCALHOST, port: echo.port });
  // Kicked providers and removed tokens reset open tunnels; that is the point of those tests.
  socket.on('error', () => undefined);
  expect((await sendAndCollect(socket, Buffer.from('ping'))).toString()).to.equal('ping');
  return socket;
}

/** Whether a connection to the port is accepted (the listener is bound). */
async function accepts(port: number): Promise<boolean> {
  const socket = net.connect(port, LOCALHOST);
  try {
    await waitForEvent(socket, 'connect', 2000);
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

describe('token policy (limits, expiry, disable, PATCH)', function () {
  checkNoLeaksAfterSuite();
  let server: LinkSocksServer | undefined;
  let echo: EchoServer | undefined;
  const clients: LinkSocksClient[] = [];
  const held: net.Socket[] = [];
  let dir: string | undefined;

  beforeEach(async function () {
    echo = await startEchoServer();
  });

  afterEach(async function () {
    for (const socket of held.splice(0)) socket.destroy();
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server?.close();
    server = undefined;
    await echo?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  async function startServer(extra: ConstructorParameters<typeof LinkSocksServer>[0] = {}): Promise<LinkSocksServer> {
    server = new LinkSocksServer({ host: LOCALHOST, port: 0, apiKey: KEY, providerWaitMs: 2000, ...extra });
    await server.start();
    return server;
  }

  async function provider(token: string): Promise<LinkSocksClient> {
    const client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server!.address().port}`, token, reverse: true });
    clients.push(client);
    await client.start();
    return client;
  }

  describe('API', function () {
    it('POST takes the fields; status shows policy and usage; answers without them stay Go-shaped', async function () {
      const s = await startServer();
      const plain = await api(s, 'POST', '/api/token', { type: 'forward', token: 'plain' });
      expect(plain).to.deep.equal({ status: 200, body: { success: true, token: 'plain' } });
      const reply = await api(s, 'POST', '/api/token', {
        type: 'forward',
        token: 'limited',
        max_channels: 10,
        rate_limit: '5MB',
        quota_bytes: '10GiB',
        quota_period: '30d',
        expires_at: '2099-01-01T00:00:00Z',
      });
      expect(reply).to.deep.equal({ status: 200, body: { success: true, token: 'limited' } });
      const entry = await statusOf(s, 'limited');
      expect(entry!.policy).to.deep.equal({
        max_channels: 10,
        rate_limit: 5_000_000,
        quota_bytes: 10 * 2 ** 30,
        quota_period: '30d',
        expires_at: '2099-01-01T00:00:00.000Z',
      });
      expect(entry!.usage).to.deep.include({ channels: 0, bytes_up: 0, bytes_down: 0, quota_used: 0 });
      expect(Object.keys(entry!.usage!)).to.deep.equal(['channels', 'bytes_up', 'bytes_down', 'quota_used', 'quota_resets_at']);
      expect(await statusOf(s, 'plain')).to.deep.equal({ token: 'plain', type: 'forward', clients_count: 0 });
      const reverse = await api(s, 'POST', '/api/token', { type: 'reverse', token: 'rev', max_channels: 2 });
      expect(reverse.body).to.include({ success: true, token: 'rev' });
      const connector = await api(s, 'POST', '/api/token', { type: 'connector', token: 'con', reverse_token: 'rev', max_channels: 3 });
      expect(connector.body).to.deep.equal({ success: true, token: 'con' });
      expect(s.store.get('con')!.policy).to.deep.equal({ maxChannels: 3 });
    });

    it('POST with a bad field: 400 naming it, and no token added', async function () {
      const s = await startServer();
      const table: [Record<string, unknown>, string][] = [
        [{ max_channels: -1 }, 'max_channels'],
        [{ max_channels: 'lots' }, 'max_channels'],
        [{ rate_limit: 'fast' }, 'rate_limit'],
        [{ quota_bytes: -10 }, 'quota_bytes'],
        [{ quota_period: 'monthly', quota_bytes: 100 }, 'quota_period'],
        [{ quota_period: '30d' }, 'quota_period'],
        [{ expires_at: 'soon' }, 'expires_at'],
        [{ expires_at: '2001-01-01T00:00:00Z' }, 'expires_at'],
        [{ disabled: true }, 'disabled'],
      ];
      for (const [fields, field] of table) {
        const reply = await api(s, 'POST', '/api/token', { type: 'reverse', token: 'bad', ...fields });
        expect(reply.status, JSON.stringify(fields)).to.equal(400);
        expect(reply.body['success']).to.equal(false);
        expect(String(reply.body['error']).startsWith(`${field}: `), String(reply.body['error'])).to.equal(true);
        expect(s.store.has('bad'), JSON.stringify(fields)).to.equal(false);
      }
      // The port pool lost nothing to the refused reverse tokens.
      expect(s.store.list()).to.have.length(0);
    });

    it('PATCH changes each field, null clears, and answers with the policy', async function () {
      const s = await startServer();
      await api(s, 'POST', '/api/token', { type: 'reverse', token: 'rev' });
      const steps: [Record<string, unknown>, Record<string, unknown>][] = [
        [{ max_channels: 5 }, { max_channels: 5 }],
        [{ rate_limit: '1MiB' }, { max_channels: 5, rate_limit: 1_048_576 }],
        [{ quota_bytes: 1000, quota_period: '12h' }, { max_channels: 5, rate_limit: 1_048_576, quota_bytes: 1000, quota_period: '12h' }],
        [{ expires_at: '2099-06-01T12:00:00+02:00' }, { max_channels: 5, rate_limit: 1_048_576, quota_bytes: 1000, quota_period: '12h', expires_at: '2099-06-01T10:00:00.000Z' }],
        [{ disabled: true }, { max_channels: 5, rate_limit: 1_048_576, quota_bytes: 1000, quota_period: '12h', expires_at: '2099-06-01T10:00:00.000Z', disabled: true }],
        [{ rate_limit: null, disabled: false, expires_at: null }, { max_channels: 5, quota_bytes: 1000, quota_period: '12h' }],
        [{ max_channels: null, quota_bytes: null, quota_period: null }, {}],
      ];
      for (const [change, policy] of steps) {
        const reply = await api(s, 'PATCH', '/api/token/rev', change);
        expect(reply, JSON.stringify(change)).to.deep.equal({ status: 200, body: { success: true, token: 'rev', policy } });
      }
      expect(s.store.get('rev')!.policy).to.equal(undefined);
      const strategy = await api(s, 'PATCH', '/api/token/rev', { strategy: 'least-channels' });
      expect(strategy.status).to.equal(200);
      expect(s.store.get('rev')).to.have.property('strategy', 'least-channels');
    });

    it('PATCH refusals: 400 naming the field, 404 unknown token, nothing half-applied', async function () {
      const s = await startServer();
      await api(s, 'POST', '/api/token', { type: 'forward', token: 'fwd', max_channels: 4 });
      const table: [unknown, string][] = [
        [{ max_channels: 0 }, 'max_channels'],
        [{ max_channels: 8, rate_limit: 'fast' }, 'rate_limit'],
        [{ max_channels: 8, expires_at: '2000-01-01T00:00:00Z' }, 'expires_at'],
        [{ max_channels: 8, expires_at: 'tomorrow' }, 'expires_at'],
        [{ max_channels: 8, quota_period: '1d' }, 'quota_period'],
        [{ max_channels: 8, disabled: 'yes' }, 'disabled'],
        [{ max_channels: 8, strategy: 'sticky' }, 'strategy'],
        [{ max_channels: 8, colour: 'red' }, 'colour'],
      ];
      for (const [body, field] of table) {
        const reply = await api(s, 'PATCH', '/api/token/fwd', body);
        expect(reply.status, JSON.stringify(body)).to.equal(400);
        expect(String(reply.body['error']).startsWith(`${field}: `), String(reply.body['error'])).to.equal(true);
        expect(s.store.get('fwd')!.policy, JSON.stringify(body)).to.deep.equal({ maxChannels: 4 });
      }
      expect(await api(s, 'PATCH', '/api/token/fwd', '[1,2]')).to.deep.equal({ status: 400, body: { success: false, error: 'invalid request body' } });
      expect(await api(s, 'PATCH', '/api/token/nope', { max_channels: 1 })).to.deep.equal({ status: 404, body: { success: false, error: 'token not found' } });
      expect((await api(s, 'PATCH', '/api/token', { max_channels: 1 })).status).to.equal(405);
    });
  });

  describe('max_channels', function () {
    it('reverse SOCKS port: over the limit → reply 0x02, counted; raised and lowered live while channels are open', async function () {
      const s = await startServer({ metrics: true });
      const socksPort = await freePort();
      s.addReverseToken({ token: 'rev', port: socksPort, policy: { maxChannels: 2 } });
      await provider('rev');
      const refusals: string[] = [];
      s.on('policy-refused', (e) => refusals.push(e.reason));
      held.push(await tunnel(socksPort, echo!), await tunnel(socksPort, echo!));
      expect((await statusOf(s, 'rev'))!.usage).to.include({ channels: 2 });
      expect(await socksConnectReply(socksPort, LOCALHOST, echo!.port)).to.equal(SocksReply.notAllowed);
      expect(refusals).to.deep.equal(['max_channels']);
      // Raised live: the third fits now.
      expect((await api(s, 'PATCH', '/api/token/rev', { max_channels: 3 })).status).to.equal(200);
      held.push(await tunnel(socksPort, echo!));
      expect(await socksConnectReply(socksPort, LOCALHOST, echo!.port)).to.equal(SocksReply.notAllowed);
      // Lowered live: the open channels stay and keep working, new ones wait for room.
      await api(s, 'PATCH', '/api/token/rev', { max_channels: 1 });
      for (const socket of held) expect((await sendAndCollect(socket, Buffer.from('still'))).toString()).to.equal('still');
      held.shift()!.destroy();
      held.shift()!.destroy();
      await waitForValue(() => s.tokenUsage('rev').channels, 1, 'channels after two closed');
      expect(await socksConnectReply(socksPort, LOCALHOST, echo!.port)).to.equal(SocksReply.notAllowed);
      held.shift()!.destroy();
      await waitForValue(() => s.tokenUsage('rev').channels, 0, 'channels after all closed');
      held.push(await tunnel(socksPort, echo!));
      const metrics = await s.metricsRegistry!.getSingleMetricAsString('linksocks_policy_refusals_total');
      expect(metrics).to.include('linksocks_policy_refusals_total{reason="max_channels"} 3');
    });

    it('HTTP proxy side of the port: 429 over the limit (CONNECT and forwarded requests)', async function () {
      const s = await startServer();
      const socksPort = await freePort();
      s.addReverseToken({ token: 'rev', port: socksPort, policy: { maxChannels: 1 } });
      await provider('rev');
      const first = await connectHttp(LOCALHOST, socksPort, `${LOCALHOST}:${echo!.port}`);
      held.push(first.socket);
      expect(first.status).to.match(/^HTTP\/1\.1 200/);
      const refused = await connectHttp(LOCALHOST, socksPort, `${LOCALHOST}:${echo!.port}`);
      refused.socket.destroy();
      expect(refused.status).to.equal('HTTP/1.1 429 Too Many Requests');
      const forwarded = await connectHttp(LOCALHOST, socksPort, `http://${LOCALHOST}:${echo!.port}/`, { method: 'GET' });
      forwarded.socket.destroy();
      expect(forwarded.status).to.equal('HTTP/1.1 429 Too Many Requests');
      first.socket.destroy();
      held.length = 0;
      await waitForValue(() => s.tokenUsage('rev').channels, 0, 'channel released');
      const again = await connectHttp(LOCALHOST, socksPort, `${LOCALHOST}:${echo!.port}`);
      held.push(again.socket);
      expect(again.status).to.match(/^HTTP\/1\.1 200/);
    });

    it('refusals are audit lines with result "refused" and the reason', async function () {
      dir = mkdtempSync(path.join(tmpdir(), 'linksocks-policy-'));
      const auditFile = path.join(dir, 'audit.jsonl');
      const s = await startServer({ auditLog: auditFile });
      const socksPort = await freePort();
      s.addReverseToken({ token: 'rev', port: socksPort, policy: { maxChannels: 1 } });
      s.addForwardToken('fwd', undefined, { maxChannels: 1 });
      await provider('rev');
      const forward = new LinkSocksClient({ url: `ws://${LOCALHOST}:${s.address().port}`, token: 'fwd', socksPort: 0 });
      clients.push(forward);
      await forward.start();
      held.push(await tunnel(socksPort, echo!), await tunnel(forward.socksAddress()!.port, echo!));
      expect(await socksConnectReply(socksPort, LOCALHOST, echo!.port)).to.equal(SocksReply.notAllowed);
      expect(await socksConnectReply(forward.socksAddress()!.port, LOCALHOST, echo!.port)).to.not.equal(SocksReply.succeeded);
      await s.close();
      const lines = readFileSync(auditFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
      const refused = lines.filter((line) => line['result'] === 'refused');
      expect(refused.map((line) => [line['mode'], line['error'], line['target_port']])).to.deep.equal([
        ['reverse', 'channel limit of the token reached', echo!.port],
        ['forward', 'channel limit of the token reached', echo!.port],
      ]);
    });

    it('a check added to the gate (the meter\'s quota) refuses the same way: 0x02, HTTP 429, refused Connect', async function () {
      const s = await startServer();
      const socksPort = await freePort();
      s.addReverseToken({ token: 'rev', port: socksPort });
      s.addForwardToken('fwd');
      await provider('rev');
      const forward = new LinkSocksClient({ url: `ws://${LOCALHOST}:${s.address().port}`, token: 'fwd', socksPort: 0 });
      clients.push(forward);
      await forward.start();
      const exhausted = new Set(['rev', 'fwd']);
      s.channelGate.addCheck((token) => (exhausted.has(token) ? 'quota' : undefined));
      const reasons: string[] = [];
      s.on('policy-refused', (e) => reasons.push(e.reason));
      expect(await socksConnectReply(socksPort, LOCALHOST, echo!.port)).to.equal(SocksReply.notAllowed);
      const http = await connectHttp(LOCALHOST, socksPort, `${LOCALHOST}:${echo!.port}`);
      http.socket.destroy();
      expect(http.status).to.equal('HTTP/1.1 429 Too Many Requests');
      expect(await socksConnectReply(forward.socksAddress()!.port, LOCALHOST, echo!.port)).to.not.equal(SocksReply.succeeded);
      expect(reasons).to.deep.equal(['quota', 'quota', 'quota']);
      exhausted.clear();
      held.push(await tunnel(socksPort, echo!), await tunnel(forward.socksAddress()!.port, echo!));
    });

    it('UDP associations on the reverse port count as channels', async function () {
      const s = await startServer();
      const socksPort = await freePort();
      s.addReverseToken({ token: 'rev', port: socksPort, policy: { maxChannels: 1 } });
      await provider('rev');
      const udpEcho = await startUdpEchoServer();
      try {
        expect((await socksUdpRoundTrip(socksPort, udpEcho.port, Buffer.from('dgram'))).toString()).to.equal('dgram');
        await waitForValue(() => s.tokenUsage('rev').channels, 0, 'association ended');
        held.push(await tunnel(socksPort, echo!));
        const refused = await socksUdpRoundTrip(socksPort, udpEcho.port, Buffer.from('dgram'), 3000).then(
          () => 'answered',
          (err: Error) => err.message,
        );
        expect(refused).to.not.equal('answered');
        expect(s.tokenUsage('rev').channels).to.equal(1);
      } finally {
        await udpEcho.close();
      }
    });

    it('connector (agent mode): its own limit counts the Connects of its clients', async function () {
      const s = await startServer();
      s.addReverseToken({ token: 'rev', port: await freePort() });
      s.addConnectorToken('con', 'rev', undefined, { maxChannels: 1 });
      await provider('rev');
      const connector = new LinkSocksClient({ url: `ws://${LOCALHOST}:${s.address().port}`, token: 'con', socksPort: 0 });
      clients.push(connector);
      await connector.start();
      const port = connector.socksAddress()!.port;
      held.push(await tunnel(port, echo!));
      expect(await socksConnectReply(port, LOCALHOST, echo!.port)).to.not.equal(SocksReply.succeeded);
      expect(echo!.connections).to.equal(1);
      expect(s.tokenUsage('con').channels).to.equal(1);
      const reverseEntry = (await api(s, 'GET', '/api/status')).body['tokens'] as Record<string, unknown>[];
      expect(reverseEntry[0]).to.deep.equal({
        token: 'rev',
        type: 'reverse',
        clients_count: 1,
        port: (s.store.get('rev') as { port: number }).port,
        connector_tokens: ['con'],
        connector_policies: [{ token: 'con', policy: { max_channels: 1 }, usage: { channels: 1, ...s.accounts.status('con') } }],
      });
      s.updateToken('con', { maxChannels: null });
      held.push(await tunnel(port, echo!));
    });

    it('forward client: Connects over the limit refused; all clients of the token count together; raised live', async function () {
      const s = await startServer();
      s.addForwardToken('fwd', undefined, { maxChannels: 2 });
      const url = `ws://${LOCALHOST}:${s.address().port}`;
      const a = new LinkSocksClient({ url, token: 'fwd', socksPort: 0 });
      const b = new LinkSocksClient({ url, token: 'fwd', socksPort: 0 });
      clients.push(a, b);
      await a.start();
      await b.start();
      const portA = a.socksAddress()!.port;
      const portB = b.socksAddress()!.port;
      held.push(await tunnel(portA, echo!), await tunnel(portB, echo!));
      expect(s.tokenUsage('fwd').channels).to.equal(2);
      const refusals: string[] = [];
      s.on('policy-refused', (e) => refusals.push(e.reason));
      expect(await socksConnectReply(portA, LOCALHOST, echo!.port)).to.not.equal(SocksReply.succeeded);
      expect(await socksConnectReply(portB, LOCALHOST, echo!.port)).to.not.equal(SocksReply.succeeded);
      expect(refusals).to.deep.equal(['max_channels', 'max_channels']);
      s.updateToken('fwd', { maxChannels: 3 });
      held.push(await tunnel(portB, echo!));
      expect((await statusOf(s, 'fwd'))!.usage).to.include({ channels: 3 });
    });
  });

  describe('expires_at', function () {
    it('at that moment the token is removed as by DELETE: provider disconnected, port closed', async function () {
      const s = await startServer();
      const socksPort = await freePort();
      s.addReverseToken({ token: 'rev', port: socksPort });
      const client = await provider('rev');
      held.push(await tunnel(socksPort, echo!));
      const expiresAt = new Date(Date.now() + 1500).toISOString();
      expect((await api(s, 'PATCH', '/api/token/rev', { expires_at: expiresAt })).status).to.equal(200);
      const [event] = await waitForEvent<[{ token: string }]>(s, 'client-disconnected', 10_000);
      expect(event.token).to.equal('rev');
      expect(Date.now()).to.be.at.least(Date.parse(expiresAt));
      expect(s.store.has('rev')).to.equal(false);
      expect(await statusOf(s, 'rev')).to.equal(undefined);
      expect(await accepts(socksPort)).to.equal(false);
    });
  });

  describe('disabled', function () {
    it('kicks clients and refuses them (clear error), keeps the token and its port; enable lets them back', async function () {
      const s = await startServer();
      const socksPort = await freePort();
      s.addReverseToken({ token: 'rev', port: socksPort });
      await provider('rev');
      held.push(await tunnel(socksPort, echo!));
      const gone = waitForEvent<[{ token: string }]>(s, 'client-disconnected', 10_000);
      expect((await api(s, 'PATCH', '/api/token/rev', { disabled: true })).body).to.deep.equal({ success: true, token: 'rev', policy: { disabled: true } });
      await gone;
      expect(s.status().tokens[0]!.clients_count).to.equal(0);
      // Refused at authentication with the reason.
      const refusedClient = new LinkSocksClient({ url: `ws://${LOCALHOST}:${s.address().port}`, token: 'rev', reverse: true });
      const err = await refusedClient.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      await refusedClient.close();
      expect(err).to.be.instanceOf(AuthError);
      expect((err as AuthError).serverReason).to.equal('token is disabled');
      // The port stays reserved and bound, and refuses requests with 0x02.
      expect(s.store.get('rev')).to.include({ port: socksPort });
      expect(await socksConnectReply(socksPort, LOCALHOST, echo!.port)).to.equal(SocksReply.notAllowed);
      // Enabled again: a provider is accepted and the port carries traffic.
      expect((await api(s, 'PATCH', '/api/token/rev', { disabled: false })).body).to.deep.equal({ success: true, token: 'rev', policy: {} });
      await provider('rev');
      held.push(await tunnel(socksPort, echo!));
    });

    it('refusals of a disabled token do not count as token guessing (no address ban)', async function () {
      const s = await startServer({ authRateLimit: { burst: 2, refillPerSecond: 0.01 } });
      s.addForwardToken('fwd');
      s.updateToken('fwd', { disabled: true });
      const url = `ws://${LOCALHOST}:${s.address().port}`;
      for (let i = 0; i < 4; i += 1) {
        const refused = new LinkSocksClient({ url, token: 'fwd', socksPort: 0 });
        const err = await refused.start().then(() => undefined, (e: unknown) => e);
        await refused.close();
        expect((err as AuthError).serverReason).to.equal('token is disabled');
      }
      s.updateToken('fwd', { disabled: false });
      const client = new LinkSocksClient({ url, token: 'fwd', socksPort: 0 });
      clients.push(client);
      await client.start();
    });

    it('disabling a reverse token disconnects its connectors too; forward clients are kicked', async function () {
      const s = await startServer();
      s.addReverseToken({ token: 'rev', port: await freePort() });
      s.addConnectorToken('con', 'rev');
      s.addForwardToken('fwd');
      const url = `ws://${LOCALHOST}:${s.address().port}`;
      const connector = new LinkSocksClient({ url, token: 'con', socksPort: 0 });
      const forward = new LinkSocksClient({ url, token: 'fwd', socksPort: 0 });
      clients.push(connector, forward);
      await connector.start();
      await forward.start();
      expect(s.clients()).to.have.length(2);
      s.updateToken('rev', { disabled: true });
      await waitForValue(() => s.clients().map((c) => c.role).join(), 'forward', 'connector kicked');
      s.updateToken('fwd', { disabled: true });
      await waitForValue(() => s.clients().length, 0, 'forward kicked');
    });
  });

  it('the state file keeps the policy across a restart; tokens expired meanwhile are removed at start', async function () {
    dir = mkdtempSync(path.join(tmpdir(), 'linksocks-policy-'));
    const stateFile = path.join(dir, 'state.json');
    let s = await startServer({ stateFile });
    s.addForwardToken('keep', undefined, { maxChannels: 7, quotaBytes: 1000, quotaPeriodMs: 86_400_000, rateLimit: 5000 });
    s.addForwardToken('short', undefined, { expiresAt: Date.now() + 60_000 });
    s.updateToken('keep', { disabled: true });
    await s.close();
    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as { tokens: { token: string; policy?: unknown }[] };
    expect(saved.tokens.find((t) => t.token === 'keep')!.policy).to.deep.equal({ maxChannels: 7, rateLimit: 5000, quotaBytes: 1000, quotaPeriodMs: 86_400_000, disabled: true });
    // Pretend a minute passed while the server was down.
    const edited = JSON.parse(readFileSync(stateFile, 'utf8')) as { tokens: { token: string; policy?: { expiresAt?: number } }[] };
    edited.tokens.find((t) => t.token === 'short')!.policy!.expiresAt = Date.now() - 1000;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(stateFile, JSON.stringify(edited));
    s = await startServer({ stateFile });
    expect(s.store.get('keep')!.policy).to.deep.equal({ maxChannels: 7, rateLimit: 5000, quotaBytes: 1000, quotaPeriodMs: 86_400_000, disabled: true });
    expect(s.store.has('short')).to.equal(false);
    expect((JSON.parse(readFileSync(stateFile, 'utf8')) as { tokens: unknown[] }).tokens).to.have.length(1);
  });
});

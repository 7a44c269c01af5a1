// Access control end to end with real sockets: per-token rules (forward, reverse port, connector),
// server-wide entry/dial rules set through the API, a provider's own dial rules, client entry
// rules on the SOCKS and HTTP proxy port, names that resolve to refused addresses, API errors,
// extra API keys, and the state file. Every refusal is checked on the target too: no connection.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { LinkSocksClient } from '../../src/client/client.js';
import type { LinkSocksClientOptions } from '../../src/client/options.js';
import { LinkSocksServer } from '../../src/server/server.js';
import type { LinkSocksServerOptions } from '../../src/server/options.js';
import type { ConnectEvent } from '../../src/relay/observer.js';
import { AccessRuleError } from '../../src/access/index.js';
import { InvalidArgumentError, LinkSocksError } from '../../src/errors.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { LOCALHOST, startEchoServer, startHttpServer, type EchoServer, type HttpTestServer } from '../helpers/net.js';
import { makePayload } from '../helpers/payload.js';
import { curlViaSocks, socksConnectReply, socksEcho, SocksReply } from '../helpers/socks.js';
import { requireTool, runTool } from '../helpers/tools.js';
import { waitForDefined } from '../helpers/wait.js';

const KEY = 'access-test-key';

interface Rig {
  server: LinkSocksServer;
  clients: LinkSocksClient[];
  /** Connect results seen by the server (forward mode dials). */
  serverConnects: ConnectEvent[];
}

const rigs: Rig[] = [];

async function startServer(options: LinkSocksServerOptions = {}): Promise<Rig> {
  const server = new LinkSocksServer({ host: LOCALHOST, port: 0, apiKey: KEY, ...options });
  const rig: Rig = { server, clients: [], serverConnects: [] };
  server.on('connect', (event) => rig.serverConnects.push(event));
  rigs.push(rig);
  await server.start();
  return rig;
}

async function startClient(rig: Rig, options: LinkSocksClientOptions): Promise<LinkSocksClient> {
  const client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${rig.server.address().port}`, socksPort: 0, ...options });
  rig.clients.push(client);
  await client.start();
  return client;
}

async function api(rig: Rig, method: string, apiPath: string, body?: unknown, key = KEY): Promise<{ status: number; json: any }> {
  const res = await fetch(`http://${LOCALHOST}:${rig.server.address().port}${apiPath}`, {
    method,
    headers: { 'X-API-Key': key, 'Content-Type': 'application/json' },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
}

async function curlProxy(proxyPort: number, url: string): Promise<{ code: number; status: string; body: string }> {
  const result = await runTool('curl', ['--silent', '--max-time', '20', '--noproxy', '', '-x', `http://127.0.0.1:${proxyPort}`, '-w', '\n%{http_code}', url], { timeoutMs: 25_000 });
  const cut = result.stdout.lastIndexOf('\n');
  return { code: result.code, body: result.stdout.slice(0, cut), status: result.stdout.slice(cut + 1) };
}

describe('access control end to end', function () {
  checkNoLeaksAfterSuite();
  let echo: EchoServer;
  let other: EchoServer;
  let http: HttpTestServer;

  beforeEach(async function () {
    echo = await startEchoServer();
    other = await startEchoServer();
    http = await startHttpServer('allowed origin\n');
  });

  afterEach(async function () {
    for (const rig of rigs.splice(0)) {
      await Promise.all(rig.clients.map((c) => c.close()));
      await rig.server.close();
    }
    await echo.close();
    await other.close();
    await http.close();
  });

  describe('forward tokens', function () {
    it('a token rule refuses a port: failed ConnectResponse with upstream\'s text, the target never dialled', async function () {
      const rig = await startServer();
      const created = await api(rig, 'POST', '/api/token', { type: 'forward', token: 'fwd', rules: [{ addrs: ['127.0.0.0/8'], ports: [echo.port] }] });
      expect(created).to.deep.equal({ status: 200, json: { success: true, token: 'fwd' } });
      const client = await startClient(rig, { token: 'fwd' });
      const port = client.socksAddress()!.port;
      const payload = makePayload(256 * 1024, 5);
      expect((await socksEcho(port, echo.port, payload)).equals(payload)).to.equal(true);
      expect(await socksConnectReply(port, LOCALHOST, other.port)).to.equal(SocksReply.hostUnreachable);
      expect(other.connections).to.equal(0);
      const refused = rig.serverConnects.find((e) => !e.ok);
      expect(refused?.error).to.equal('destination blocked by access control');
    });

    it('the rules are shown back by /api/status, in Go\'s output form', async function () {
      const rig = await startServer();
      await api(rig, 'POST', '/api/token', { type: 'forward', token: 'fwd', rules: [{ Addrs: ['10.0.0.0/8', '192.168.1.10-20'], Ports: [[8000, 8080], 22] }] });
      await api(rig, 'POST', '/api/token', { type: 'forward', token: 'open' });
      const status = await api(rig, 'GET', '/api/status');
      const entries = status.json.tokens as Array<Record<string, unknown>>;
      expect(entries.find((e) => e.token === 'fwd')).to.deep.equal({
        token: 'fwd', type: 'forward', clients_count: 0, rules: [{ Addrs: ['10.0.0.0/8', '192.168.1.10-20'], Ports: [[8000, 8080], 22] }],
      });
      expect(entries.find((e) => e.token === 'open')).to.deep.equal({ token: 'open', type: 'forward', clients_count: 0 });
    });

    it('a name is resolved by the dialer and checked: localhost is refused when only 10/8 is allowed, allowed (and dialled as the checked IP) under 127/8', async function () {
      requireTool(this, 'curl');
      const rig = await startServer();
      await api(rig, 'POST', '/api/token', { type: 'forward', token: 'ten', rules: [{ addrs: ['10.0.0.0/8'] }] });
      await api(rig, 'POST', '/api/token', { type: 'forward', token: 'loop', rules: [{ addrs: ['127.0.0.0/8'], ports: [http.port] }] });
      const ten = await startClient(rig, { token: 'ten' });
      const loop = await startClient(rig, { token: 'loop' });
      const refused = await runTool('curl', ['--silent', '--max-time', '20', '--socks5-hostname', `127.0.0.1:${ten.socksAddress()!.port}`, `http://localhost:${http.port}/`]);
      expect(refused.code).to.not.equal(0);
      expect(http.requests).to.equal(0);
      const { stdout } = await curlViaSocks(loop.socksAddress()!.port, `http://localhost:${http.port}/`);
      expect(stdout).to.equal('allowed origin\n');
      expect(rig.serverConnects.find((e) => !e.ok)?.error).to.equal('destination blocked by access control');
    });

    it('server-wide dial rules: PUT then GET /api/config/access, applied to open sessions, with the H:P text', async function () {
      const rig = await startServer();
      await api(rig, 'POST', '/api/token', { type: 'forward', token: 'fwd' });
      const client = await startClient(rig, { token: 'fwd' });
      const port = client.socksAddress()!.port;
      expect(await api(rig, 'GET', '/api/config/access')).to.deep.equal({ status: 200, json: { entry: null, dial: null } });
      expect(await api(rig, 'PUT', '/api/config/access', { dial: [{ addrs: ['127.0.0.1'], ports: [echo.port] }] })).to.deep.equal({ status: 200, json: { success: true } });
      expect(await api(rig, 'GET', '/api/config/access')).to.deep.equal({ status: 200, json: { entry: null, dial: [{ Addrs: ['127.0.0.1'], Ports: [echo.port] }] } });
      expect(await socksConnectReply(port, LOCALHOST, other.port)).to.equal(SocksReply.hostUnreachable);
      expect(other.connections).to.equal(0);
      expect(rig.serverConnects.find((e) => !e.ok)?.error).to.equal(`destination 127.0.0.1:${other.port} blocked by access control`);
      const payload = makePayload(64 * 1024, 9);
      expect((await socksEcho(port, echo.port, payload)).equals(payload)).to.equal(true);
      // An absent side stays; [] clears.
      await api(rig, 'PUT', '/api/config/access', { entry: [{ ports: [1] }] });
      expect((await api(rig, 'GET', '/api/config/access')).json.dial).to.have.length(1);
      await api(rig, 'PUT', '/api/config/access', { Dial: [], entry: [] });
      expect((await api(rig, 'GET', '/api/config/access')).json).to.deep.equal({ entry: null, dial: null });
      expect(await socksConnectReply(port, LOCALHOST, other.port)).to.equal(SocksReply.succeeded);
    });

    it('denyTargets on the server refuses loopback dials whatever the rules', async function () {
      const rig = await startServer({ denyTargets: ['local'] });
      await api(rig, 'POST', '/api/token', { type: 'forward', token: 'fwd' });
      const client = await startClient(rig, { token: 'fwd' });
      expect(await socksConnectReply(client.socksAddress()!.port, LOCALHOST, echo.port)).to.equal(SocksReply.hostUnreachable);
      expect(echo.connections).to.equal(0);
      expect(rig.serverConnects[0]?.error).to.equal(`destination 127.0.0.1:${echo.port} blocked by access control`);
    });
  });

  describe('entry rules on a SOCKS/HTTP port', function () {
    it('a forward client\'s --access-rule: SOCKS reply 0x02, HTTP proxy 403, nothing sent to the server', async function () {
      requireTool(this, 'curl');
      const rig = await startServer();
      await api(rig, 'POST', '/api/token', { type: 'forward', token: 'fwd' });
      const client = await startClient(rig, { token: 'fwd', accessRules: [{ addrs: ['127.0.0.1'], ports: [http.port] }] });
      const port = client.socksAddress()!.port;
      expect(await socksConnectReply(port, LOCALHOST, other.port)).to.equal(SocksReply.notAllowed);
      expect(other.connections).to.equal(0);
      const blocked = await curlProxy(port, `http://127.0.0.1:${other.port}/`);
      expect(blocked.status).to.equal('403');
      expect(blocked.body).to.contain('Destination blocked by access control');
      expect(other.connections).to.equal(0);
      const allowed = await curlProxy(port, `http://127.0.0.1:${http.port}/`);
      expect([allowed.status, allowed.body]).to.deep.equal(['200', 'allowed origin\n']);
      expect(rig.serverConnects.every((e) => e.ok)).to.equal(true);
    });

    it('a reverse token\'s rules replace the server-wide entry rules on its port (0x02 and 403)', async function () {
      requireTool(this, 'curl');
      const rig = await startServer();
      await api(rig, 'PUT', '/api/config/access', { entry: [{ ports: [other.port] }] });
      const created = await api(rig, 'POST', '/api/token', { type: 'reverse', token: 'rev', port: 0, rules: [{ addrs: ['127.0.0.1'], ports: [echo.port, http.port] }] });
      expect(created.json.success).to.equal(true);
      await startClient(rig, { token: 'rev', reverse: true });
      const port = (await waitForDefined(() => rig.server.socksAddress('rev'), 'reverse port')).port;
      expect(await socksConnectReply(port, LOCALHOST, other.port)).to.equal(SocksReply.notAllowed);
      expect(other.connections).to.equal(0);
      expect((await curlProxy(port, `http://127.0.0.1:${other.port}/`)).status).to.equal('403');
      const payload = makePayload(128 * 1024, 3);
      expect((await socksEcho(port, echo.port, payload)).equals(payload)).to.equal(true);
      expect((await curlProxy(port, `http://127.0.0.1:${http.port}/`)).body).to.equal('allowed origin\n');
    });

    it('server-wide entry rules apply to a reverse port without rules of its own', async function () {
      const rig = await startServer();
      await api(rig, 'POST', '/api/token', { type: 'reverse', token: 'rev', port: 0 });
      await startClient(rig, { token: 'rev', reverse: true });
      const port = (await waitForDefined(() => rig.server.socksAddress('rev'), 'reverse port')).port;
      expect(await socksConnectReply(port, LOCALHOST, other.port)).to.equal(SocksReply.succeeded);
      await api(rig, 'PUT', '/api/config/access', { entry: [{ addrs: ['127.0.0.1'], ports: [echo.port] }] });
      expect(await socksConnectReply(port, LOCALHOST, other.port)).to.equal(SocksReply.notAllowed);
      expect(other.connections).to.equal(1);
    });
  });

  describe('provider dial rules', function () {
    it('a provider\'s accessRules refuse what the server asks it to dial: 0x04 on the server\'s port, no connection', async function () {
      const rig = await startServer();
      await api(rig, 'POST', '/api/token', { type: 'reverse', token: 'rev', port: 0 });
      const provider = await startClient(rig, { token: 'rev', reverse: true, accessRules: [{ ports: [echo.port] }] });
      const refusals: ConnectEvent[] = [];
      provider.on('connect', (event) => refusals.push(event));
      const port = (await waitForDefined(() => rig.server.socksAddress('rev'), 'reverse port')).port;
      expect(await socksConnectReply(port, LOCALHOST, other.port)).to.equal(SocksReply.hostUnreachable);
      expect(other.connections).to.equal(0);
      expect(refusals[0]?.error).to.equal(`destination 127.0.0.1:${other.port} blocked by access control`);
      const payload = makePayload(64 * 1024, 4);
      expect((await socksEcho(port, echo.port, payload)).equals(payload)).to.equal(true);
    });

    it('a provider with denyTargets local refuses a name that resolves to loopback (localhost)', async function () {
      requireTool(this, 'curl');
      const rig = await startServer();
      await api(rig, 'POST', '/api/token', { type: 'reverse', token: 'rev', port: 0 });
      await startClient(rig, { token: 'rev', reverse: true, denyTargets: ['local'] });
      const port = (await waitForDefined(() => rig.server.socksAddress('rev'), 'reverse port')).port;
      const result = await runTool('curl', ['--silent', '--max-time', '20', '--socks5-hostname', `127.0.0.1:${port}`, `http://localhost:${http.port}/`]);
      expect(result.code).to.not.equal(0);
      expect(http.requests).to.equal(0);
    });
  });

  describe('connector tokens', function () {
    it('a connector token\'s rules are checked on the server before any provider is asked', async function () {
      const rig = await startServer();
      await api(rig, 'POST', '/api/token', { type: 'reverse', token: 'rev', port: 0 });
      const conn = await api(rig, 'POST', '/api/token', { type: 'connector', token: 'conn', reverse_token: 'rev', rules: [{ ports: [echo.port] }] });
      expect(conn.json).to.deep.equal({ success: true, token: 'conn' });
      const provider = await startClient(rig, { token: 'rev', reverse: true });
      const dials: ConnectEvent[] = [];
      provider.on('connect', (event) => dials.push(event));
      const connector = await startClient(rig, { token: 'conn' });
      const port = connector.socksAddress()!.port;
      expect(await socksConnectReply(port, LOCALHOST, other.port)).to.equal(SocksReply.hostUnreachable);
      expect(other.connections).to.equal(0);
      expect(dials).to.have.length(0);
      const payload = makePayload(64 * 1024, 8);
      expect((await socksEcho(port, echo.port, payload)).equals(payload)).to.equal(true);
    });
  });

  describe('API', function () {
    it('malformed rules: 400 naming the entry, and nothing created', async function () {
      const rig = await startServer();
      const bad = await api(rig, 'POST', '/api/token', { type: 'forward', token: 'bad', rules: [{ addrs: ['10.0.0.0/8'] }, { addrs: ['10.0.0.300'] }] });
      expect(bad).to.deep.equal({ status: 400, json: { success: false, error: 'rules[1].addrs[0]: invalid address "10.0.0.300" (not an IP, CIDR or range)' } });
      const badPort = await api(rig, 'POST', '/api/token', { type: 'reverse', token: 'rbad', rules: [{ ports: [[9, 1]] }] });
      expect(badPort.status).to.equal(400);
      expect(badPort.json.error).to.equal('rules[0].ports[0]: invalid port range [9,1] (start after end)');
      const badConn = await api(rig, 'POST', '/api/token', { type: 'connector', token: 'cbad', reverse_token: 'nope', rules: 'all' });
      expect(badConn).to.deep.equal({ status: 400, json: { success: false, error: 'rules: must be a list of rules' } });
      expect((await api(rig, 'GET', '/api/status')).json.tokens).to.deep.equal([]);
    });

    it('PUT /api/config/access: a bad rule on either side is 400 and changes neither', async function () {
      const rig = await startServer();
      await api(rig, 'PUT', '/api/config/access', { entry: [{ ports: [80] }] });
      const bad = await api(rig, 'PUT', '/api/config/access', { entry: [], dial: [{ addrs: ['nonsense'] }] });
      expect(bad).to.deep.equal({ status: 400, json: { success: false, error: 'dial[0].addrs[0]: invalid address "nonsense" (not an IP, CIDR or range)' } });
      expect((await api(rig, 'GET', '/api/config/access')).json).to.deep.equal({ entry: [{ Addrs: null, Ports: [80] }], dial: null });
      expect((await api(rig, 'PUT', '/api/config/access', '{not json')).status).to.equal(400);
      expect((await api(rig, 'PUT', '/api/config/access', { dial: [] }, 'wrong')).status).to.equal(401);
      expect((await api(rig, 'POST', '/api/config/access', {})).status).to.equal(405);
    });

    it('extra API keys authenticate; a wrong key is 401', async function () {
      const rig = await startServer({ apiKeys: ['second-key', 'third-key'] });
      expect((await api(rig, 'GET', '/api/status', undefined, 'second-key')).status).to.equal(200);
      expect((await api(rig, 'POST', '/api/token', { type: 'forward', token: 'x' }, 'third-key')).json).to.deep.equal({ success: true, token: 'x' });
      expect((await api(rig, 'GET', '/api/config/access', undefined, 'third-key')).status).to.equal(200);
      expect((await api(rig, 'GET', '/api/status', undefined, 'fourth-key')).json).to.deep.equal({ success: false, error: 'invalid API key' });
    });

    it('the library validates rules and presets in the constructors', function () {
      expect(() => new LinkSocksServer({ access: { dial: [{ addrs: ['x'] }] } })).to.throw(AccessRuleError, 'access.dial[0].addrs[0]');
      expect(() => new LinkSocksServer({ denyTargets: ['nat' as 'local'] })).to.throw(AccessRuleError, 'unknown target preset');
      expect(() => new LinkSocksClient({ accessRules: [{ ports: [0] }] })).to.throw(AccessRuleError, 'accessRules[0].ports[0]');
      expect(() => new LinkSocksClient({ denyTargets: 'local' as unknown as ['local'] })).to.throw(AccessRuleError, 'denyTargets: must be a list');
      expect(() => new LinkSocksServer({ apiKeys: ['ok', ''] })).to.throw(InvalidArgumentError, 'apiKeys');
      // One error family: AccessRuleError is a LinkSocksError with a stable code.
      expect(new AccessRuleError('x')).to.be.instanceOf(LinkSocksError).and.to.have.property('code', 'ERR_LINKSOCKS_ACCESS_RULE');
      const server = new LinkSocksServer();
      expect(() => server.addForwardToken('t', [{ addrs: ['1.2.3.4/40'] }])).to.throw(AccessRuleError);
      expect(server.store.get('t')).to.equal(undefined);
    });
  });

  describe('state file', function () {
    let dir: string;
    beforeEach(async function () {
      dir = await mkdtemp(path.join(os.tmpdir(), 'linksocks-access-'));
    });
    afterEach(async function () {
      await rm(dir, { recursive: true, force: true });
    });

    it('token rules and server-wide rules survive a restart and are enforced after it', async function () {
      const stateFile = path.join(dir, 'state.json');
      const first = await startServer({ stateFile });
      await api(first, 'POST', '/api/token', { type: 'forward', token: 'fwd', rules: [{ addrs: ['127.0.0.1'], ports: [echo.port] }] });
      await api(first, 'POST', '/api/token', { type: 'reverse', token: 'rev', port: 0, rules: [{ ports: [[1000, 2000]] }] });
      await api(first, 'POST', '/api/token', { type: 'connector', token: 'conn', reverse_token: 'rev', rules: [{ addrs: ['::1'] }] });
      await api(first, 'PUT', '/api/config/access', { entry: [{ addrs: ['10.0.0.0/8'] }], dial: [{ ports: [echo.port] }] });
      const statusBefore = (await api(first, 'GET', '/api/status')).json;
      const accessBefore = (await api(first, 'GET', '/api/config/access')).json;
      await first.server.close();
      rigs.splice(rigs.indexOf(first), 1);

      const second = await startServer({ stateFile });
      expect((await api(second, 'GET', '/api/status')).json).to.deep.equal(statusBefore);
      expect((await api(second, 'GET', '/api/config/access')).json).to.deep.equal(accessBefore);
      expect(second.server.store.get('conn')?.rules?.toJSON()).to.deep.equal([{ Addrs: ['::1'], Ports: null }]);
      const client = await startClient(second, { token: 'fwd' });
      expect(await socksConnectReply(client.socksAddress()!.port, LOCALHOST, other.port)).to.equal(SocksReply.hostUnreachable);
      expect(other.connections).to.equal(0);
    });

    it('a state file written before access control loads with no rules', async function () {
      const stateFile = path.join(dir, 'old.json');
      await writeFile(stateFile, JSON.stringify({ version: 1, tokens: [{ kind: 'forward', token: 'old' }] }));
      const rig = await startServer({ stateFile });
      expect((await api(rig, 'GET', '/api/config/access')).json).to.deep.equal({ entry: null, dial: null });
      expect((await api(rig, 'GET', '/api/status')).json.tokens).to.deep.equal([{ token: 'old', type: 'forward', clients_count: 0 }]);
    });

    it('a state file with a malformed rule is refused, naming it', async function () {
      const stateFile = path.join(dir, 'bad.json');
      await writeFile(stateFile, JSON.stringify({ version: 1, tokens: [], access: { dial: [{ Addrs: ['bogus'] }] } }));
      expect(() => new LinkSocksServer({ stateFile })).to.throw(/access\.dial\[0\]\.addrs\[0\]: invalid address "bogus"/);
    });
  });
});

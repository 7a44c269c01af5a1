// [linksocks-ts] Live control: GET /api/token/{token}/clients and DELETE …/clients/{id}, through
// the HTTP API and the `token clients` / `token kick` commands, against a real server with real
// providers, forward clients and SOCKS connections.
import { expect } from 'chai';
import http from 'node:http';
import type net from 'node:net';
import { Command, CommanderError } from 'commander';
import { LinkSocksClient } from '../../src/client/client.js';
import type { LinkSocksClientOptions } from '../../src/client/options.js';
import { LinkSocksServer } from '../../src/server/server.js';
import type { TokenClientEntry } from '../../src/server/admin-views.js';
import { registerTokenCommand } from '../../src/cli/token-command.js';
import { MemoryCluster } from '../../src/cluster/memory-directory.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { endingOf, freePort, LOCALHOST, startEchoServer, withTimeout, type EchoServer } from '../helpers/net.js';
import { makePayload, sha256 } from '../helpers/payload.js';
import { socksConnect, socksEcho } from '../helpers/socks.js';
import { waitForDefined, waitForValue } from '../helpers/wait.js';

const KEY = 'L1VE';
const MiB = 1024 * 1024;

interface Answer {
  status: number;
  body: string;
  type: string | undefined;
}

function request(port: number, method: string, path: string, key: string | null = KEY): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = key === null ? {} : { 'X-API-Key': key };
    const req = http.request({ host: LOCALHOST, port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), type: res.headers['content-type'] }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('[linksocks-ts] live control of a token\'s clients', function () {
  checkNoLeaksAfterSuite();
  let server: LinkSocksServer;
  let echo: EchoServer;
  let apiPort: number;
  let socksPort: number;
  const clients: LinkSocksClient[] = [];
  const sockets: net.Socket[] = [];

  async function startClient(options: LinkSocksClientOptions): Promise<LinkSocksClient> {
    const client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${apiPort}`, socksPort: 0, reconnect: true, reconnectDelayMs: 100, ...options });
    clients.push(client);
    await client.start();
    return client;
  }

  async function listed(token: string): Promise<TokenClientEntry[]> {
    const answer = await request(apiPort, 'GET', `/api/token/${encodeURIComponent(token)}/clients`);
    expect(answer.status, answer.body).to.equal(200);
    expect(answer.type).to.equal('application/json; charset=utf-8');
    return (JSON.parse(answer.body) as { clients: TokenClientEntry[] }).clients;
  }

  beforeEach(async function () {
    echo = await startEchoServer();
    server = new LinkSocksServer({ host: LOCALHOST, port: 0, apiKey: KEY, providerWaitMs: 3000 });
    await server.start();
    apiPort = server.address().port;
    socksPort = await freePort();
    server.addReverseToken({ token: 'rev/1', port: socksPort });
    server.addForwardToken('fwd');
  });

  afterEach(async function () {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.close();
    await echo.close();
  });

  it('refuses both routes without the API key, like the other routes', async function () {
    for (const key of [null, 'wrong', '']) {
      for (const [method, path] of [['GET', '/api/token/fwd/clients'], ['DELETE', '/api/token/fwd/clients/1']] as const) {
        const answer = await request(apiPort, method, path, key);
        expect(answer.status, `${method} ${path} key=${String(key)}`).to.equal(401);
        expect(JSON.parse(answer.body)).to.deep.equal({ success: false, error: 'invalid API key' });
      }
    }
  });

  it('lists providers and forward clients with their fields, bytes counted after a transfer', async function () {
    const provider = await startClient({ token: 'rev/1', reverse: true });
    const forward = await startClient({ token: 'fwd' });
    const before = Date.now();
    const [p] = await listed('rev/1');
    const [f] = await listed('fwd');
    expect(p).to.have.keys(['id', 'role', 'remote_address', 'instance', 'node_id', 'connected_at', 'channels', 'bytes_in', 'bytes_out']);
    expect(p).to.include({ role: 'provider', instance: provider.instance, node_id: null, channels: 0 });
    expect(f).to.include({ role: 'forward', instance: forward.instance, node_id: null, channels: 0 });
    expect(p!.id).to.not.equal(f!.id);
    for (const entry of [p!, f!]) {
      expect(entry.remote_address).to.match(/^127\.0\.0\.1:\d+$/);
      expect(entry.connected_at).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
      expect(Date.parse(entry.connected_at)).to.be.at.most(before + 1000);
    }

    const payload = makePayload(MiB, 3);
    const echoed = await socksEcho(forward.socksAddress()!.port, echo.port, payload);
    expect(sha256(echoed)).to.equal(sha256(payload));
    const viaProvider = await socksEcho(socksPort, echo.port, payload);
    expect(sha256(viaProvider)).to.equal(sha256(payload));
    const [f2] = await listed('fwd');
    const [p2] = await listed('rev/1');
    // The payload went up and came back down each connection (WebSocket framing on top).
    for (const entry of [f2!, p2!]) {
      expect(entry.bytes_in).to.be.at.least(MiB);
      expect(entry.bytes_out).to.be.at.least(MiB);
    }

    // A channel held open shows up in the count.
    const socket = await socksConnect({ proxyPort: forward.socksAddress()!.port, host: LOCALHOST, port: echo.port });
    sockets.push(socket);
    await waitForValue(() => server.clients().find((c) => c.token === 'fwd')?.channels, 1, 'one open channel');
    expect((await listed('fwd'))[0]!.channels).to.equal(1);
    expect(await listed('rev/1')).to.have.length(1);
  });

  it('kicks a provider: its SOCKS channels end with an error, it reconnects with a new id', async function () {
    const provider = await startClient({ token: 'rev/1', reverse: true });
    const socket = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: echo.port });
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.write('ping');
    await new Promise((resolve) => socket.once('data', resolve));
    const [entry] = await listed('rev/1');
    expect(entry!.channels).to.equal(1);
    const ending = endingOf(socket);
    const reconnected = new Promise((resolve) => provider.once('connected', resolve));

    const answer = await request(apiPort, 'DELETE', `/api/token/rev%2F1/clients/${entry!.id}`);
    expect(answer.status, answer.body).to.equal(200);
    expect(JSON.parse(answer.body)).to.deep.equal({ success: true, id: entry!.id });
    expect(await withTimeout(ending, 3000, 'SOCKS socket ended')).to.equal('ECONNRESET');
    await withTimeout(reconnected, 5000, 'provider reconnected');
    await waitForDefined(() => (server.tokenClients('rev/1')!.length === 1 ? true : undefined), 'provider listed again');
    const [after] = await listed('rev/1');
    expect(after!.id).to.not.equal(entry!.id);
    // The token and its port stay: traffic flows through the reconnected provider.
    const payload = makePayload(MiB, 4);
    expect(sha256(await socksEcho(socksPort, echo.port, payload))).to.equal(sha256(payload));
  });

  it('answers 404 to an unknown token or client, and leaves the Go routes alone', async function () {
    await startClient({ token: 'fwd' });
    const [f] = await listed('fwd');
    for (const [method, path, error] of [
      ['GET', '/api/token/nope/clients', 'token not found'],
      ['DELETE', '/api/token/nope/clients/1', 'token not found'],
      ['DELETE', `/api/token/fwd/clients/${f!.id + 1000}`, 'client not found'],
      ['DELETE', '/api/token/fwd/clients/abc', 'client not found'],
      ['DELETE', '/api/token/fwd/clients/0', 'client not found'],
      // A client of another token is not this token's client.
      ['DELETE', `/api/token/rev%2F1/clients/${f!.id}`, 'client not found'],
    ] as const) {
      const answer = await request(apiPort, method, path);
      expect(answer.status, `${method} ${path}`).to.equal(404);
      expect(JSON.parse(answer.body)).to.deep.equal({ success: false, error });
    }
    expect(await listed('fwd')).to.have.length(1);
    expect(await listed('rev/1')).to.deep.equal([]);
    // Go's DELETE /api/token/{token} is unchanged.
    const removed = await request(apiPort, 'DELETE', '/api/token/fwd');
    expect(JSON.parse(removed.body)).to.deep.equal({ success: true, token: 'fwd' });
    expect((await request(apiPort, 'GET', '/api/token/fwd/clients')).status).to.equal(404);
  });

  it('names the node holding the connection in cluster mode', async function () {
    const node = new LinkSocksServer({ host: LOCALHOST, port: 0, apiKey: KEY, cluster: { directory: new MemoryCluster().join('node-a'), secret: 's3cret' } });
    await node.start();
    try {
      node.addForwardToken('fwd');
      const client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${node.address().port}`, token: 'fwd', socksPort: 0 });
      clients.push(client);
      await client.start();
      const answer = await request(node.address().port, 'GET', '/api/token/fwd/clients');
      const [entry] = (JSON.parse(answer.body) as { clients: TokenClientEntry[] }).clients;
      expect(entry).to.include({ role: 'forward', node_id: 'node-a' });
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await node.close();
    }
  });

  it('kicks a forward client: its channel ends, the client reconnects', async function () {
    const forward = await startClient({ token: 'fwd' });
    const socket = await socksConnect({ proxyPort: forward.socksAddress()!.port, host: LOCALHOST, port: echo.port });
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.write('ping');
    await new Promise((resolve) => socket.once('data', resolve));
    const ending = endingOf(socket);
    const reconnected = new Promise((resolve) => forward.once('connected', resolve));
    const [entry] = server.tokenClients('fwd')!;
    const kicked: unknown[] = [];
    const onKicked = (event: unknown): number => kicked.push(event);
    server.on('client-kicked', onKicked);
    expect(server.kickClient('fwd', entry!.id)).to.equal(true);
    server.off('client-kicked', onKicked);
    // The admin page's event list learns of the kick from this event.
    expect(kicked).to.deep.equal([{ role: 'forward', token: 'fwd', linkId: entry!.id, remoteAddress: entry!.remote_address }]);
    expect(await withTimeout(ending, 3000, 'SOCKS socket ended')).to.equal('ECONNRESET');
    await withTimeout(reconnected, 5000, 'forward client reconnected');
    expect(server.kickClient('fwd', entry!.id)).to.equal(false);
    const payload = makePayload(MiB, 5);
    expect(sha256(await socksEcho(forward.socksAddress()!.port, echo.port, payload))).to.equal(sha256(payload));
  });

  describe('token clients / token kick (CLI)', function () {
    const run = async (args: string[]): Promise<{ code: number; out: string; err: string }> => {
      let out = '';
      let err = '';
      const program = new Command('linksocks-ts').exitOverride().configureOutput({
        writeOut: (text) => void (out += text),
        writeErr: (text) => void (err += text),
      });
      registerTokenCommand(program, { env: { LINKSOCKS_API_KEY: KEY }, writeOut: (text) => void (out += text), writeErr: (text) => void (err += text) });
      try {
        await program.parseAsync(['token', ...args, '--url', `http://${LOCALHOST}:${apiPort}`], { from: 'user' });
        return { code: 0, out, err };
      } catch (error) {
        if (!(error instanceof CommanderError)) throw error;
        return { code: error.exitCode, out, err };
      }
    };

    it('lists clients as a table and as JSON, and kicks one', async function () {
      const provider = await startClient({ token: 'rev/1', reverse: true });
      const [entry] = server.tokenClients('rev/1')!;
      const table = await run(['clients', 'rev/1']);
      expect(table.code, table.err).to.equal(0);
      const lines = table.out.trimEnd().split('\n');
      expect(lines[0]).to.match(/^ID\s+ROLE\s+REMOTE\s+CONNECTED\s+CHANNELS\s+BYTES_IN\s+BYTES_OUT\s+NODE$/);
      expect(lines).to.have.length(2);
      expect(lines[1]!.split(/\s+/).slice(0, 3)).to.deep.equal([String(entry!.id), 'provider', entry!.remote_address]);

      const json = await run(['clients', 'rev/1', '--json']);
      const parsed = JSON.parse(json.out) as { clients: TokenClientEntry[] };
      expect(parsed.clients).to.have.length(1);
      expect(parsed.clients[0]).to.include({ id: entry!.id, role: 'provider', instance: provider.instance, node_id: null });

      const reconnected = new Promise((resolve) => provider.once('connected', resolve));
      expect(await run(['kick', 'rev/1', String(entry!.id)])).to.deep.equal({ code: 0, out: `disconnected client ${entry!.id}\n`, err: '' });
      await withTimeout(reconnected, 5000, 'provider reconnected');
    });

    it('fails with the server error for an unknown token or client, and refuses a bad id before asking', async function () {
      expect(await run(['clients', 'nope'])).to.deep.equal({ code: 1, out: '', err: 'token not found\n' });
      expect(await run(['kick', 'fwd', '99999'])).to.deep.equal({ code: 1, out: '', err: 'client not found\n' });
      const bad = await run(['kick', 'fwd', 'x1']);
      expect(bad.code).to.equal(1);
      expect(bad.err).to.include('a client id is a positive integer');
    });
  });
});

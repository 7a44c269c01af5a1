// Token rate limits and quotas on real sockets: the rate measured over 5 s on one stream and on 16
// parallel streams, each direction, through a reverse token's SOCKS port and a forward client;
// a rate changed while a transfer runs; a quota crossed mid-stream; usage kept across a restart.
// Policies are set as the API's PATCH sets them (server.updateToken), and once through PATCH itself.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from '../../src/log.js';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import type { TokenPolicyChange } from '../../src/server/token-policy-input.js';
import { tokenLabel } from '../../src/metrics/metrics.js';
import { LOCALHOST, startUdpEchoServer } from '../helpers/net.js';
import { socksConnect, socksConnectReply, socksUdpRoundTrip, SocksReply } from '../helpers/socks.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { waitForDefined } from '../helpers/wait.js';

const RATE = 2_000_000;
const KEY = 'meter-test-key';
const WARMUP_MS = 1000;
const WINDOW_MS = 5000;
/** Measured rates, printed at the end of the suite (the figures the docs quote). */
const figures: string[] = [];

interface Servers {
  /** Sends without end on every connection. */
  flood: { port: number; close(): Promise<void> };
  /** Swallows everything; counts the bytes of all connections. */
  sink: { port: number; readonly bytes: number; close(): Promise<void> };
}

function tracked(server: net.Server): () => Promise<void> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  });
  return async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve));
  return (server.address() as net.AddressInfo).port;
}

async function startServers(): Promise<Servers> {
  const block = Buffer.alloc(64 * 1024, 0x61);
  const floodServer = net.createServer((socket) => {
    const pump = (): void => {
      while (!socket.destroyed && socket.write(block));
    };
    socket.on('drain', pump);
    socket.resume();
    pump();
  });
  const closeFlood = tracked(floodServer);
  let sunk = 0;
  const sinkServer = net.createServer((socket) => {
    socket.on('data', (chunk: Buffer) => {
      sunk += chunk.length;
    });
  });
  const closeSink = tracked(sinkServer);
  return {
    flood: { port: await listen(floodServer), close: closeFlood },
    sink: {
      port: await listen(sinkServer),
      get bytes() {
        return sunk;
      },
      close: closeSink,
    },
  };
}

/** Writes without end into `socket` (respecting backpressure) until it closes. */
function pumpInto(socket: net.Socket): void {
  const block = Buffer.alloc(64 * 1024, 0x62);
  const pump = (): void => {
    while (!socket.destroyed && socket.writable && socket.write(block));
  };
  socket.on('drain', pump);
  pump();
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Bytes per second of `read()` over WINDOW_MS after WARMUP_MS (the burst and queues settled). */
async function measure(read: () => number): Promise<number> {
  await sleep(WARMUP_MS);
  const b0 = read();
  const t0 = performance.now();
  await sleep(WINDOW_MS);
  return ((read() - b0) * 1000) / (performance.now() - t0);
}

function logCapture(): { logger: Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    logger: pino({ level: 'info' }, sink) as unknown as Logger,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('token rate limit and quota', function () {
  this.timeout(60_000);
  checkNoLeaksAfterSuite();
  let servers: Servers;
  let server: LinkSocksServer;
  let log: ReturnType<typeof logCapture>;
  const clients: LinkSocksClient[] = [];
  const sockets: net.Socket[] = [];
  let stateDir: string | undefined;

  async function startServer(options: ConstructorParameters<typeof LinkSocksServer>[0] = {}): Promise<string> {
    log = logCapture();
    server = new LinkSocksServer({ host: LOCALHOST, port: 0, logger: log.logger, ...options });
    if (!server.store.has('fwd')) server.addForwardToken('fwd');
    if (!server.store.has('rev')) server.addReverseToken({ token: 'rev' });
    await server.start();
    return `ws://${LOCALHOST}:${server.address().port}`;
  }

  async function client(options: ConstructorParameters<typeof LinkSocksClient>[0]): Promise<LinkSocksClient> {
    const c = new LinkSocksClient(options);
    clients.push(c);
    await c.start();
    return c;
  }

  /** The SOCKS port of mode `mode`: a forward client's own port, or the reverse token's port on the server. */
  async function socksPortFor(mode: 'forward' | 'reverse'): Promise<number> {
    const url = `ws://${LOCALHOST}:${server.address().port}`;
    if (mode === 'forward') return (await client({ url, token: 'fwd', socksPort: 0 })).socksAddress()!.port;
    await client({ url, token: 'rev', reverse: true });
    return (await waitForDefined(() => server.socksAddress('rev'), 'reverse SOCKS port')).port;
  }

  async function open(proxyPort: number, targetPort: number): Promise<net.Socket> {
    const s = await socksConnect({ proxyPort, host: LOCALHOST, port: targetPort });
    s.on('error', () => undefined);
    sockets.push(s);
    return s;
  }

  function configure(token: string, change: TokenPolicyChange): void {
    server.updateToken(token, change);
  }

  /** PATCH /api/token/{token} through the HTTP API (the server was started with apiKey KEY). */
  async function patch(token: string, body: Record<string, unknown>): Promise<number> {
    const response = await fetch(`http://${LOCALHOST}:${server.address().port}/api/token/${token}`, {
      method: 'PATCH',
      headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    await response.text();
    return response.status;
  }

  beforeEach(async function () {
    servers = await startServers();
  });

  after(function () {
    if (figures.length > 0) console.log(`      measured (set ${RATE} B/s):\n${figures.map((f) => `        ${f}`).join('\n')}`);
  });

  afterEach(async function () {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server?.close();
    await servers.flood.close();
    await servers.sink.close();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    stateDir = undefined;
  });

  for (const mode of ['reverse', 'forward'] as const) {
    const token = mode === 'reverse' ? 'rev' : 'fwd';
    for (const streams of [1, 16]) {
      it(`${mode}: download on ${streams} stream(s) within 10% of the rate, shared fairly`, async function () {
        await startServer();
        configure(token, { rateLimit: RATE });
        const port = await socksPortFor(mode);
        const received = new Array<number>(streams).fill(0);
        for (let i = 0; i < streams; i += 1) {
          const s = await open(port, servers.flood.port);
          s.on('data', (chunk: Buffer) => {
            received[i] = received[i]! + chunk.length;
          });
        }
        const perStream: number[] = [];
        const rate = await measure(() => {
          perStream.splice(0, perStream.length, ...received);
          return received.reduce((a, b) => a + b, 0);
        });
        figures.push(`${mode} download, ${streams} stream(s): ${Math.round(rate)} B/s (${(((rate - RATE) / RATE) * 100).toFixed(1)}%)`);
        expect(rate).to.be.within(RATE * 0.9, RATE * 1.1);
        if (streams > 1) {
          const mean = perStream.reduce((a, b) => a + b, 0) / streams;
          expect(Math.min(...perStream)).to.be.above(mean * 0.5);
        }
      });

      it(`${mode}: upload on ${streams} stream(s) within 10% of the rate`, async function () {
        await startServer();
        configure(token, { rateLimit: RATE });
        const port = await socksPortFor(mode);
        for (let i = 0; i < streams; i += 1) pumpInto(await open(port, servers.sink.port));
        const rate = await measure(() => servers.sink.bytes);
        figures.push(`${mode} upload, ${streams} stream(s): ${Math.round(rate)} B/s (${(((rate - RATE) / RATE) * 100).toFixed(1)}%)`);
        expect(rate).to.be.within(RATE * 0.9, RATE * 1.1);
      });
    }
  }

  it('a rate changed by PATCH while a transfer runs takes effect within a second', async function () {
    await startServer({ apiKey: KEY });
    expect(await patch('rev', { rate_limit: '1MB' })).to.equal(200);
    const port = await socksPortFor('reverse');
    let received = 0;
    (await open(port, servers.flood.port)).on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    await sleep(1500);
    expect(await patch('rev', { rate_limit: '4MB' })).to.equal(200);
    await sleep(500);
    const b0 = received;
    await sleep(1000);
    const faster = received - b0;
    figures.push(`live change 1 MB/s → 4 MB/s: ${faster} B in the second after the first 0.5 s`);
    expect(faster).to.be.within(4_000_000 * 0.8, 4_000_000 * 1.2);
    expect(await patch('rev', { rate_limit: null })).to.equal(200); // unlimited: the held bytes go at once
    const b1 = received;
    await sleep(1000);
    expect(received - b1).to.be.above(8_000_000);
  });

  it('unlimited tokens are not slowed (a limited token next to them is)', async function () {
    await startServer();
    configure('rev', { rateLimit: 500_000 });
    const port = await socksPortFor('forward');
    let received = 0;
    (await open(port, servers.flood.port)).on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    await sleep(1000);
    expect(received).to.be.above(10_000_000);
  });

  it('quota: the channel crossing it is reset, the next one refused, one log line', async function () {
    await startServer();
    const quota = 3_000_000;
    configure('rev', { quotaBytes: quota });
    const port = await socksPortFor('reverse');
    const closes: string[] = [];
    server.on('channel-close', (e) => closes.push(e.error));
    const exhausted: unknown[] = [];
    server.on('quota-exhausted', (e) => exhausted.push(e));
    let received = 0;
    const s = await open(port, servers.flood.port);
    s.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    await new Promise<void>((resolve) => s.once('close', () => resolve()));
    // Reset (RST) by the server; the client may read it as ECONNRESET or, when the kernel reports the
    // error elsewhere first, as an end: the server's record of the channel is what tells.
    expect(closes).to.deep.equal(['quota exceeded']);
    expect(received).to.be.within(quota - 2 * 1024 * 1024, quota);
    expect(await socksConnectReply(port, LOCALHOST, servers.flood.port)).to.equal(SocksReply.notAllowed);
    expect(server.accounts.admits('rev')).to.equal(false);
    const lines = log.lines().filter((l) => String(l['msg']).startsWith('Token quota used up'));
    expect(lines).to.have.length(1);
    expect(lines[0]!['token']).to.match(/^[0-9a-f]{8}$/);
    expect(JSON.stringify(lines[0])).not.to.contain('"rev"');
    // The server event (the admin page's event list): once, with the plain token.
    expect(exhausted).to.deep.equal([{ token: 'rev', quotaBytes: quota }]);
    // Raising the quota admits channels again.
    configure('rev', { quotaBytes: quota * 10 });
    const again = await open(port, servers.flood.port);
    expect(again.destroyed).to.equal(false);
  });

  it('quota on a forward token: the Connect is refused after it is used up', async function () {
    await startServer();
    configure('fwd', { quotaBytes: 1_000_000 });
    const port = await socksPortFor('forward');
    const s = await open(port, servers.flood.port);
    await new Promise<void>((resolve) => s.once('close', () => resolve()));
    expect(await socksConnectReply(port, LOCALHOST, servers.flood.port)).to.not.equal(SocksReply.succeeded);
    expect(server.accounts.status('fwd')!.bytes_down).to.be.at.least(1_000_000);
  });

  it('metrics: bytes each way, quota used, channels and refusals per token, by hashed label', async function () {
    await startServer({ metrics: true });
    configure('rev', { quotaBytes: 1_000_000 });
    const port = await socksPortFor('reverse');
    const s = await open(port, servers.flood.port);
    await new Promise<void>((resolve) => s.once('close', () => resolve()));
    expect(await socksConnectReply(port, LOCALHOST, servers.flood.port)).to.equal(SocksReply.notAllowed);
    const text = await server.metricsRegistry!.metrics();
    const label = tokenLabel('rev');
    const value = (line: string): number => Number(text.split('\n').find((l) => l.startsWith(line))?.split(' ').pop());
    expect(value(`linksocks_token_bytes_total{token="${label}",direction="down"}`)).to.be.at.least(1_000_000);
    expect(value(`linksocks_token_quota_used_bytes{token="${label}"}`)).to.be.at.least(1_000_000);
    expect(value(`linksocks_token_quota_refusals_total{token="${label}"}`)).to.equal(1);
    expect(value(`linksocks_token_channels{token="${label}"}`)).to.equal(0);
    expect(text).not.to.contain('"rev"');
  });

  it('agent routes are counted on the connector token; its quota refuses its Connects', async function () {
    await startServer();
    server.addConnectorToken('conn', 'rev');
    const url = `ws://${LOCALHOST}:${server.address().port}`;
    await client({ url, token: 'rev', reverse: true });
    const connector = await client({ url, token: 'conn', socksPort: 0 });
    const port = connector.socksAddress()!.port;
    const s = await open(port, servers.sink.port);
    s.end(Buffer.alloc(200_000, 3));
    await waitForUsage(() => server.accounts.status('conn')!.bytes_up, 200_000);
    expect(server.accounts.status('conn')!.bytes_up).to.equal(200_000);
    expect(server.accounts.status('rev')!.bytes_up).to.equal(0);
    // Quota crossed on a route: the route is closed, the connector's next Connect refused.
    configure('conn', { quotaBytes: 100_000 });
    const next = await open(port, servers.sink.port);
    pumpInto(next);
    await new Promise<void>((resolve) => next.once('close', () => resolve()));
    expect(server.accounts.status('conn')!.quota_used).to.be.at.least(100_000);
    expect(await socksConnectReply(port, LOCALHOST, servers.sink.port)).to.not.equal(SocksReply.succeeded);
  });

  it('UDP datagrams are counted (not rate-limited)', async function () {
    await startServer();
    const udpEcho = await startUdpEchoServer();
    try {
      const port = await socksPortFor('forward');
      const echoed = await socksUdpRoundTrip(port, udpEcho.port, Buffer.alloc(1000, 7));
      expect(echoed.length).to.equal(1000);
      await waitForUsage(() => server.accounts.status('fwd')!.bytes_down, 1000);
      expect(server.accounts.status('fwd')).to.deep.equal({ bytes_up: 1000, bytes_down: 1000 });
    } finally {
      await udpEcho.close();
    }
  });

  it('HTTP clients on a reverse port get 429 while the quota is used up', async function () {
    await startServer();
    const port = await socksPortFor('reverse');
    configure('rev', { quotaBytes: 100_000 });
    const first = await open(port, servers.flood.port);
    await new Promise<void>((resolve) => first.once('close', () => resolve()));
    for (const request of [`CONNECT ${LOCALHOST}:${servers.sink.port} HTTP/1.1\r\nHost: x\r\n\r\n`, `GET http://${LOCALHOST}:${servers.sink.port}/ HTTP/1.1\r\nHost: x\r\n\r\n`]) {
      const socket = net.connect(port, LOCALHOST);
      socket.on('error', () => undefined);
      sockets.push(socket);
      socket.write(request);
      const head = await new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
        socket.once('close', () => resolve(text));
      });
      expect(head).to.match(/^HTTP\/1\.1 429 /);
    }
  });

  it('usage is kept in the state file and read back after a restart', async function () {
    stateDir = mkdtempSync(path.join(tmpdir(), 'linksocks-usage-'));
    const stateFile = path.join(stateDir, 'state.json');
    await startServer({ stateFile });
    configure('fwd', { quotaBytes: 50_000_000 });
    const port = await socksPortFor('forward');
    const s = await open(port, servers.sink.port);
    s.end(Buffer.alloc(300_000, 1));
    await waitForUsage(() => server.accounts.status('fwd')!.bytes_up, 300_000);
    for (const c of clients.splice(0)) await c.close();
    await server.close();
    const saved = JSON.parse(readFileSync(stateFile, 'utf8')) as { usage?: Record<string, { bytesUp: number; quotaUsed: number }> };
    expect(saved.usage?.['fwd']?.bytesUp).to.equal(300_000);
    await startServer({ stateFile });
    // The policy came back with the token, the usage from the file's usage section.
    const entry = server.status().tokens.find((t) => t.token === 'fwd');
    expect(entry?.usage).to.deep.equal({ channels: 0, bytes_up: 300_000, bytes_down: 0, quota_used: 300_000 });
  });
});

async function waitForUsage(read: () => number, atLeast: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (read() < atLeast) {
    if (Date.now() > deadline) throw new Error(`usage stayed at ${read()} (< ${atLeast})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

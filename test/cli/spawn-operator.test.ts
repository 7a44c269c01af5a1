// The operator features of the CLI against real processes: drain on SIGTERM, TLS with
// certificate reload, the metrics listener, and the log formats. Every server and client process
// is spawned from source (node --import tsx); peers that need no CLI run in-process.
import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import http from 'node:http';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { LOCALHOST, startEchoServer, type EchoServer } from '../helpers/net.js';
import { collectBytes, makePayload, sendAndCollect, sha256, writeAll } from '../helpers/payload.js';
import { spawnProcess, tsCli, type TestProcess } from '../helpers/process.js';
import { socksConnect } from '../helpers/socks.js';
import { makeSelfSignedCertificate } from '../helpers/tls.js';

const [node, cliArgs] = tsCli();
const MiB = 1024 * 1024;

function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}, name = args[0]): TestProcess {
  return spawnProcess(node, [...cliArgs, ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, name: name ?? 'cli' });
}

/**
 * Spawns `server … -H 127.0.0.1 -P 0` and resolves with the port it reports once listening.
 * The pattern reads text (`listen=…`) and JSON (`"listen":"…"`, fields before msg) lines.
 */
async function startServer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ proc: TestProcess; port: number }> {
  const proc = spawnCli(['server', '-H', LOCALHOST, '-P', '0', ...args], env);
  const match = await proc.waitForLine(/^(?=.*LinkSocks server started)(?=.*listen"?[=:]"?127\.0\.0\.1:(\d+))/, { stream: 'stdout', timeoutMs: 15_000 });
  return { proc, port: Number(match[1]) };
}

/** Spawns a client with `-p 0` and resolves with the SOCKS5 port it reports. */
async function startClient(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ proc: TestProcess; socksPort: number }> {
  const proc = spawnCli(['client', '-s', LOCALHOST, '-p', '0', ...args], env);
  const match = await proc.waitForLine(/^(?=.*SOCKS5 server started)(?=.*addr"?[=:]"?127\.0\.0\.1:(\d+))/, { stream: 'stdout', timeoutMs: 15_000 });
  return { proc, socksPort: Number(match[1]) };
}

function scrape(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: LOCALHOST, port, path: '/metrics', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`status ${String(res.statusCode)}`))));
      })
      .on('error', reject);
  });
}

/** SHA-256 fingerprint of the certificate a fresh TLS handshake with 127.0.0.1:port presents. */
function presentedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: LOCALHOST, port, servername: 'localhost', rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.once('error', reject);
  });
}

describe('linksocks-ts operator features (spawned)', function () {
  this.timeout(30_000);
  let echo: EchoServer;
  const clients: LinkSocksClient[] = [];
  const servers: LinkSocksServer[] = [];
  const sockets: net.Socket[] = [];
  const dirs: string[] = [];

  beforeEach(async () => {
    echo = await startEchoServer();
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    await echo.close();
    // Spawned processes are stopped by the helper's afterEach hook.
  });

  async function libraryClient(port: number, token: string): Promise<number> {
    const client = new LinkSocksClient({ url: `ws://${LOCALHOST}:${port}`, token, socksHost: LOCALHOST, socksPort: 0 });
    clients.push(client);
    await client.start();
    const address = client.socksAddress();
    if (!address) throw new Error('library client has no SOCKS5 address');
    return address.port;
  }

  async function tunnel(socksPort: number): Promise<net.Socket> {
    const socket = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: echo.port });
    socket.on('error', () => undefined);
    sockets.push(socket);
    return socket;
  }

  it('SIGTERM drains: a 32 MiB echo transfer finishes intact, then the server exits 0', async () => {
    const { proc, port } = await startServer(['-t', 'drain-token']);
    // Text format: Go's scraped start-up lines are there, token included.
    expect(proc.findLine(/^\S+ INF {3}Token: drain-token$/, 'stdout'), proc.output()).to.not.equal(undefined);
    const socket = await tunnel(await libraryClient(port, 'drain-token'));

    const payload = makePayload(32 * MiB, 7);
    const split = 8 * MiB;
    const received = collectBytes(socket, payload.length, 25_000);
    received.catch(() => undefined);
    // First part, wait until it is echoed (the channel is busy), then signal, then the rest:
    // the drain certainly overlaps the transfer.
    const firstPartEchoed = new Promise<void>((resolve) => {
      let seen = 0;
      const onData = (chunk: Buffer): void => {
        seen += chunk.length;
        if (seen >= split) {
          socket.off('data', onData);
          resolve();
        }
      };
      socket.on('data', onData);
    });
    await writeAll(socket, payload.subarray(0, split));
    await firstPartEchoed;
    proc.child.kill('SIGTERM');
    await proc.waitForLine(/Draining: waiting for open channels to finish/, { stream: 'stdout' });
    await writeAll(socket, payload.subarray(split));
    const echoed = await received;
    expect(sha256(echoed)).to.equal(sha256(payload));
    expect(proc.exitInfo, 'exited while a channel was open').to.equal(undefined);

    socket.destroy();
    const exit = await proc.waitForExit(10_000);
    expect(exit).to.deep.equal({ code: 0, signal: null });
  });

  it('a second signal stops at once; a short drain timeout ends the wait by itself', async () => {
    const [patient, short] = await Promise.all([
      startServer(['-t', 'tok-a', '--drain-timeout', '1m']),
      startServer(['-t', 'tok-b', '--drain-timeout', '300ms']),
    ]);
    // An idle but open channel on each server keeps the drain waiting.
    const [socketA, socketB] = await Promise.all([
      libraryClient(patient.port, 'tok-a').then(tunnel),
      libraryClient(short.port, 'tok-b').then(tunnel),
    ]);
    await Promise.all([sendAndCollect(socketA, Buffer.from('ping')), sendAndCollect(socketB, Buffer.from('ping'))]);

    patient.proc.child.kill('SIGTERM');
    short.proc.child.kill('SIGTERM');
    await patient.proc.waitForLine(/Draining: waiting/, { stream: 'stdout' });
    patient.proc.child.kill('SIGTERM');
    // Well before the 1 minute drain timeout.
    expect(await patient.proc.waitForExit(8_000)).to.deep.equal({ code: 0, signal: null });
    expect(await short.proc.waitForExit(8_000)).to.deep.equal({ code: 0, signal: null });
    expect(short.proc.findLine(/Draining: waiting/, 'stdout'), short.proc.output()).to.not.equal(undefined);
  });

  it('TLS: wss:// with --ca, --insecure warns loudly, SIGHUP swaps the certificate without dropping the tunnel', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'linksocks-cli-tls-'));
    dirs.push(dir);
    const certFile = path.join(dir, 'cert.pem');
    const keyFile = path.join(dir, 'key.pem');
    const [first, second] = await Promise.all([makeSelfSignedCertificate(), makeSelfSignedCertificate()]);
    await writeFile(certFile, first.cert);
    await writeFile(keyFile, first.key);

    const { proc: server, port } = await startServer(['--tls-cert', certFile, '--tls-key', keyFile, '-t', 'tls-token']);
    expect(server.findLine(/url=https:\/\/127\.0\.0\.1:\d+/, 'stdout'), server.output()).to.not.equal(undefined);
    const url = `wss://localhost:${port}`;
    const [verified, insecure] = await Promise.all([
      startClient(['-u', url, '-t', 'tls-token', '--ca', certFile]),
      startClient(['-u', url, '-t', 'tls-token', '--insecure']),
    ]);
    expect(insecure.proc.findLine(/WARNING: --insecure disables TLS certificate verification/, 'stderr'), insecure.proc.output()).to.not.equal(
      undefined,
    );
    expect(verified.proc.findLine(/WARNING/), verified.proc.output()).to.equal(undefined);

    const socket = await tunnel(verified.socksPort);
    await sendAndCollect(socket, makePayload(2 * MiB, 3));
    expect(await presentedFingerprint(port)).to.equal(new X509Certificate(first.cert).fingerprint256);

    await writeFile(certFile, second.cert);
    await writeFile(keyFile, second.key);
    server.child.kill('SIGHUP');
    await server.waitForLine(/TLS certificate reloaded/, { stream: 'stdout' });
    expect(await presentedFingerprint(port)).to.equal(new X509Certificate(second.cert).fingerprint256);
    // The WebSocket set up under the old certificate still carries traffic.
    await sendAndCollect(socket, makePayload(MiB, 4));
    expect(verified.proc.exitInfo).to.equal(undefined);
  });

  it('client --metrics-listen with LINKSOCKS_LOG_FORMAT=json: JSON lines without the token, channel counted', async () => {
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0 });
    servers.push(server);
    server.addForwardToken('metrics-secret-token');
    await server.start();

    const { proc, socksPort } = await startClient(
      ['-u', `ws://${LOCALHOST}:${server.address().port}`, '-t', 'metrics-secret-token', '--metrics-listen', `${LOCALHOST}:0`],
      { LINKSOCKS_LOG_FORMAT: 'json' },
    );
    const metricsLine = await proc.waitForLine(/"msg":"Metrics listener started"/, { stream: 'stdout' });
    const metricsPort = Number((JSON.parse(metricsLine.input ?? '') as { addr: string }).addr.split(':')[1]);

    const socket = await tunnel(socksPort);
    await sendAndCollect(socket, makePayload(256 * 1024, 5));
    socket.destroy();
    expect(await scrape(metricsPort)).to.match(/^linksocks_channels_opened_total\{mode="forward"\} 1$/m);

    expect(await proc.stop()).to.deep.equal({ code: 0, signal: null });
    const stdout = proc.lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
    expect(stdout.length).to.be.greaterThan(3);
    for (const line of stdout) {
      expect(() => JSON.parse(line) as unknown, line).to.not.throw();
      expect(line).to.not.include('metrics-secret-token');
    }
    const summary = stdout.map((l) => JSON.parse(l) as Record<string, unknown>).find((r) => r.msg === 'Configuration summary');
    expect(summary).to.include({ role: 'forward', token: '***', log_format: 'json', threads: 1 });
  });

  it('server --log-format json: JSON lines only, the given token never printed', async () => {
    const { proc, port } = await startServer(['--log-format', 'json', '-t', 'json-secret-token', '--metrics-listen', `${LOCALHOST}:0`]);
    const socket = await tunnel(await libraryClient(port, 'json-secret-token'));
    await sendAndCollect(socket, Buffer.from('hello'));
    await proc.waitForLine(/Forward client authenticated/, { stream: 'stdout' });
    // No open channel, so SIGTERM needs no drain wait.
    socket.destroy();
    expect(await proc.stop()).to.deep.equal({ code: 0, signal: null });
    const stdout = proc.lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
    const records = stdout.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.map((r) => r.msg)).to.include.members(['Configuration:', '  Token: ***', 'Configuration summary', 'Metrics listener started']);
    expect(stdout.join('\n')).to.not.include('json-secret-token');
  });
});

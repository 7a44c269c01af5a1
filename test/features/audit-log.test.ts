import { expect } from 'chai';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { LinkSocksClient } from '../../src/client/client.js';
import { parseServerFlags } from '../../src/cli/parse-server.js';
import { runServer } from '../../src/cli/run-server.js';
import type { Logger } from '../../src/log.js';
import { AuditWriter } from '../../src/server/audit-writer.js';
import type { AuditRecord } from '../../src/server/audit-log.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { sha256Hex } from '../../src/util/secrets.js';
import { freePort, LOCALHOST, startEchoServer, type EchoServer } from '../helpers/net.js';
import { socksConnect, socksConnectReply, socksEcho, SocksReply } from '../helpers/socks.js';
import { sendAndCollect } from '../helpers/payload.js';
import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import { waitForValue } from '../helpers/wait.js';
import { FakeServer, Harness } from '../cli/fakes.js';

function readLines(file: string): AuditRecord[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as AuditRecord);
}

/** A logger that records warn/info/error messages (the audit writer's only outputs). */
function recordingLogger(): Logger & { messages: string[] } {
  const messages: string[] = [];
  const log = (a: unknown, b?: unknown): void => {
    messages.push(typeof a === 'string' ? a : `${String(b)} ${JSON.stringify(a)}`);
  };
  return { messages, warn: log, info: log, error: log, debug: () => undefined } as unknown as Logger & { messages: string[] };
}

describe('audit log', function () {
  checkNoLeaksAfterSuite();
  let dir: string;
  let echo: EchoServer;

  beforeEach(async function () {
    dir = mkdtempSync(path.join(tmpdir(), 'linksocks-audit-'));
    echo = await startEchoServer();
  });

  afterEach(async function () {
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes one line per channel, field by field, after a forward + reverse + agent run with ok and refused dials', async function () {
    const file = path.join(dir, 'audit.jsonl');
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0, auditLog: file });
    await server.start();
    const url = `ws://${LOCALHOST}:${server.address().port}`;
    const socksPort = await freePort();
    const closedPort = await freePort();
    server.addForwardToken('fwd-secret');
    server.addReverseToken({ token: 'rev-secret', port: socksPort, username: 'alice', password: 'pw' });
    server.addConnectorToken('conn-secret', 'rev-secret');
    let events = 0;
    server.on('channel-close', () => (events += 1));
    server.on('connect', (e) => {
      if (!e.ok) events += 1;
    });
    const forward = new LinkSocksClient({ url, token: 'fwd-secret', socksPort: 0 });
    const provider = new LinkSocksClient({ url, token: 'rev-secret', reverse: true });
    const connector = new LinkSocksClient({ url, token: 'conn-secret', socksPort: 0 });
    try {
      await forward.start();
      await provider.start();
      const forwardPort = forward.socksAddress()!.port;
      const fwdEcho = await socksEcho(forwardPort, echo.port, Buffer.alloc(1000, 1));
      expect(fwdEcho.length).to.equal(1000);
      expect(await socksConnectReply(forwardPort, LOCALHOST, closedPort)).to.not.equal(SocksReply.succeeded);
      const tunnel = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: echo.port, userId: 'alice', password: 'pw' });
      const clientPort = tunnel.localPort;
      await sendAndCollect(tunnel, Buffer.alloc(300, 2));
      tunnel.destroy();
      const refused = await socksConnect({ proxyPort: socksPort, host: LOCALHOST, port: closedPort, userId: 'alice', password: 'pw' }).then(
        (s) => (s.destroy(), false),
        () => true,
      );
      expect(refused).to.equal(true);
      await connector.start();
      const agentEcho = await socksEcho(connector.socksAddress()!.port, echo.port, Buffer.alloc(200, 3));
      expect(agentEcho.length).to.equal(200);
      await waitForValue(() => events, 5, 'audited channels', 10_000);
      await server.close();
      const lines = readLines(file);
      expect(lines).to.have.length(5);
      const byKey = (mode: string, result: string): AuditRecord => {
        const found = lines.find((l) => l.mode === mode && l.result === result);
        expect(found, `${mode} ${result}`).to.not.equal(undefined);
        return found!;
      };
      const raw = readFileSync(file, 'utf8');
      expect(raw).to.not.include('fwd-secret');
      expect(raw).to.not.include('rev-secret');
      expect(raw).to.not.include('"pw"');

      const fwdOk = byKey('forward', 'ok');
      expect(fwdOk.token).to.equal(sha256Hex('fwd-secret'));
      expect(fwdOk.client_id).to.be.a('number');
      expect(fwdOk.client_address).to.match(/^127\.0\.0\.1:\d+$/);
      expect(fwdOk.provider_id).to.equal(undefined);
      expect(fwdOk.target_host).to.equal(LOCALHOST);
      expect(fwdOk.target_port).to.equal(echo.port);
      expect(fwdOk.protocol).to.equal('tcp');
      expect(fwdOk.bytes_up).to.equal(1000);
      expect(fwdOk.bytes_down).to.equal(1000);
      expect(fwdOk.error).to.equal(undefined);
      expect(Date.parse(fwdOk.closed)).to.be.at.least(Date.parse(fwdOk.opened));
      expect(new Date(fwdOk.opened).toISOString()).to.equal(fwdOk.opened);

      const fwdFail = byKey('forward', 'dial-error');
      expect(fwdFail.token).to.equal(sha256Hex('fwd-secret'));
      expect(fwdFail.client_id).to.equal(fwdOk.client_id);
      expect(fwdFail.target_port).to.equal(closedPort);
      expect(fwdFail.error).to.include('connection refused');
      expect(fwdFail.bytes_up).to.equal(0);

      const revOk = byKey('reverse', 'ok');
      expect(revOk.token).to.equal(sha256Hex('rev-secret'));
      expect(revOk.client_id).to.equal(undefined);
      expect(revOk.client_address).to.equal(`127.0.0.1:${clientPort}`);
      expect(revOk.provider_id).to.be.a('number');
      expect(revOk.user).to.equal('alice');
      expect(revOk.target_port).to.equal(echo.port);
      expect(revOk.protocol).to.equal('tcp');
      expect(revOk.bytes_up).to.equal(300);
      expect(revOk.bytes_down).to.equal(300);

      const revFail = byKey('reverse', 'dial-error');
      expect(revFail.provider_id).to.equal(revOk.provider_id);
      expect(revFail.target_port).to.equal(closedPort);
      expect(revFail.user).to.equal('alice');
      expect(revFail.error).to.include('connection refused');

      const agent = byKey('agent', 'ok');
      expect(agent.token).to.equal(sha256Hex('conn-secret'));
      expect(agent.client_id).to.be.a('number');
      expect(agent.client_id).to.not.equal(fwdOk.client_id);
      expect(agent.client_address).to.match(/^127\.0\.0\.1:\d+$/);
      expect(agent.provider_id).to.equal(revOk.provider_id);
      expect(agent.target_port).to.equal(echo.port);
      expect(agent.protocol).to.equal('tcp');
      expect(agent.bytes_up).to.equal(200);
      expect(agent.bytes_down).to.equal(200);
      expect(raw).to.not.include('conn-secret');
    } finally {
      await forward.close();
      await connector.close();
      await provider.close();
      await server.close();
    }
  });

  it('a Connect the server refuses by its own limit gets a "refused" line', async function () {
    const file = path.join(dir, 'refused.jsonl');
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0, auditLog: file, maxChannelsPerLink: 1 });
    await server.start();
    server.addForwardToken('fwd-secret');
    const forward = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'fwd-secret', socksPort: 0 });
    let refusedEvents = 0;
    server.on('connect', (e) => {
      if (e.refused) refusedEvents += 1;
    });
    try {
      await forward.start();
      const port = forward.socksAddress()!.port;
      const first = await socksConnect({ proxyPort: port, host: LOCALHOST, port: echo.port });
      expect(await socksConnectReply(port, LOCALHOST, echo.port)).to.not.equal(SocksReply.succeeded);
      await waitForValue(() => refusedEvents, 1, 'refused connect');
      first.destroy();
      await forward.close();
      await server.close();
      const refused = readLines(file).filter((l) => l.result === 'refused');
      expect(refused).to.have.length(1);
      expect(refused[0]!.error).to.equal('too many channels');
      expect(refused[0]!.token).to.equal(sha256Hex('fwd-secret'));
      expect(refused[0]!.target_port).to.equal(echo.port);
    } finally {
      await forward.close();
      await server.close();
    }
  });

  it('a forward Connect refused by access rules gets a "refused" line, an allowed one "ok"', async function () {
    const file = path.join(dir, 'rules.jsonl');
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0, auditLog: file, access: { dial: [{ addrs: ['127.0.0.1'], ports: [echo.port] }] } });
    await server.start();
    server.addForwardToken('fwd-secret');
    const forward = new LinkSocksClient({ url: `ws://${LOCALHOST}:${server.address().port}`, token: 'fwd-secret', socksPort: 0 });
    let events = 0;
    server.on('connect', (e) => {
      if (!e.ok) events += 1;
    });
    server.on('channel-close', () => (events += 1));
    try {
      await forward.start();
      const port = forward.socksAddress()!.port;
      const blocked = await freePort();
      expect(await socksConnectReply(port, LOCALHOST, blocked)).to.not.equal(SocksReply.succeeded);
      expect((await socksEcho(port, echo.port, Buffer.from('ok'))).toString()).to.equal('ok');
      await waitForValue(() => events, 2, 'connects');
      await forward.close();
      await server.close();
      const lines = readLines(file);
      const refused = lines.filter((l) => l.result === 'refused');
      expect(refused).to.have.length(1);
      expect(refused[0]!.target_port).to.equal(blocked);
      expect(refused[0]!.error).to.be.a('string').and.not.equal('');
      expect(lines.filter((l) => l.result === 'ok')).to.have.length(1);
    } finally {
      await forward.close();
      await server.close();
    }
  });

  it('reopens the file at its path on reopenAuditLog() after a rename (logrotate)', async function () {
    const file = path.join(dir, 'audit.jsonl');
    const logger = recordingLogger();
    const writer = new AuditWriter({ target: file, logger });
    writer.write('{"n":1}');
    const onDisk = (): string => {
      try {
        return readFileSync(file, 'utf8');
      } catch {
        return '';
      }
    };
    await waitForValue(onDisk, '{"n":1}\n', 'first line on disk');
    renameSync(file, `${file}.1`);
    writer.write('{"n":2}'); // still goes to the renamed file: the descriptor is the old one
    writer.reopen();
    writer.write('{"n":3}');
    await writer.close();
    expect(readFileSync(`${file}.1`, 'utf8')).to.equal('{"n":1}\n{"n":2}\n');
    expect(readFileSync(file, 'utf8')).to.equal('{"n":3}\n');
    expect(writer.dropped).to.equal(0);
  });

  it('an audit log that cannot be opened fails the server construction with a clear error', function () {
    expect(() => new LinkSocksServer({ auditLog: path.join(dir, 'missing-dir', 'a.jsonl') }))
      .to.throw(/cannot open audit log .*missing-dir/)
      .with.property('code', 'ERR_LINKSOCKS_AUDIT_LOG');
  });

  it('drops and counts lines beyond its bound while the writer is stalled, and logs that once per interval', async function () {
    const logger = recordingLogger();
    let stalled: Writable | undefined;
    const writer = new AuditWriter({
      target: 'stalled',
      maxBufferedLines: 5,
      logger,
      open: () => (stalled = new Writable({ write: () => undefined })), // never calls back: stalled disk
    });
    const accepted = Array.from({ length: 20 }, (_, i) => writer.write(`{"n":${i}}`));
    expect(accepted.filter(Boolean)).to.have.length(5);
    expect(writer.dropped).to.equal(15);
    expect(logger.messages.filter((m) => m.startsWith('Audit log lines dropped'))).to.have.length(1);
    const bytesBound = new AuditWriter({
      target: 'stalled',
      maxBufferedBytes: 100,
      logger,
      open: () => new Writable({ write: () => undefined }),
    });
    const line = 'x'.repeat(30);
    expect([1, 2, 3, 4].map(() => bytesBound.write(line))).to.deep.equal([true, true, true, false]);
    expect(bytesBound.dropped).to.equal(1);
    stalled!.destroy();
  });

  it('the server counts dropped lines in its metrics', async function () {
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0, auditLog: path.join(dir, 'a.jsonl'), metrics: true });
    expect(server.auditLinesDropped).to.equal(0);
    const text = await server.metricsRegistry!.metrics();
    expect(text).to.include('linksocks_audit_lines_dropped_total 0');
    await server.close();
  });

  it('CLI: --audit-log is passed to the library and SIGHUP reopens it', async function () {
    const server = new FakeServer() as FakeServer & { reopenAuditLog(): void };
    server.reopenAuditLog = () => server.calls.push('reopenAuditLog');
    const h = new Harness();
    const file = path.join(dir, 'x.jsonl');
    let auditLog: string | undefined;
    const done = runServer(parseServerFlags({ auditLog: file }, {}), {
      ...h,
      createServer: (o) => {
        auditLog = o.auditLog;
        return server;
      },
    });
    await h.subscribed;
    expect(auditLog).to.equal(file);
    h.reloadHandler?.();
    expect(server.calls.at(-1)).to.equal('reopenAuditLog');
    h.signal();
    expect(await done).to.equal(0);
  });
});

import { expect } from 'chai';
import type { LinkSocksServerOptions } from '../../src/server/options.js';
import { parseServerFlags } from '../../src/cli/parse-server.js';
import { runServer } from '../../src/cli/run-server.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { withCapturedHttpServers } from '../helpers/capture-http-server.js';
import { FakeServer, Harness } from './fakes.js';
import { serverSummary } from '../../src/cli/summary.js';

function start(flags: Parameters<typeof parseServerFlags>[0], server = new FakeServer()) {
  const h = new Harness();
  const done = runServer(parseServerFlags(flags, {}), { ...h, createServer: () => server });
  return { h, server, done };
}

describe('runServer', () => {
  it('forward: prints the Configuration block with the generated token, stops on SIGINT with 0', async () => {
    const { h, server, done } = start({});
    await h.subscribed;
    expect(h.goMessages()).to.deep.equal([
      'INF Configuration:',
      'INF   Mode: forward proxy (SOCKS5 on client -> server -> network)',
      'INF   Token: 0123456789abcdef',
      'INF LinkSocks server started listen=0.0.0.0:8765 url=http://localhost:8765',
    ]);
    h.signal();
    expect(await done).to.equal(0);
    expect(server.calls).to.deep.equal(['forward:', 'start', 'close']);
    expect(h.messages().at(-1)).to.equal('INF Shutting down server...');
    expect(h.unsubscribed).to.equal(true);
  });

  it('a signal sent the moment "LinkSocks server started" is printed still shuts down in order (status 0)', async () => {
    const h = new Harness();
    const server = new FakeServer();
    // Deliver SIGTERM from inside the logger, as a supervisor reacting to the line would.
    const write = h.logger.info.bind(h.logger);
    h.logger.info = ((...args: Parameters<typeof write>) => {
      write(...args);
      if (args.some((arg) => arg === 'LinkSocks server started')) h.signal();
    }) as typeof h.logger.info;
    const code = await runServer(parseServerFlags({}, {}), { ...h, createServer: () => server });
    expect(code).to.equal(0);
    expect(server.calls.at(-1)).to.equal('close');
    expect(h.unsubscribed).to.equal(true);
  });

  it('reverse: adds the reverse token, then a generated connector token, in Go order', async () => {
    const { h, server, done } = start({ reverse: true, token: 'P', socksPort: '9871', socksUsername: 'u', socksPassword: 'pw' });
    await h.subscribed;
    expect(server.calls).to.deep.equal(['reverse', 'connector::P', 'start']);
    expect(server.reverseOptions).to.deep.equal({ token: 'P', port: 9871, username: 'u', password: 'pw', allowManageConnector: false });
    expect(h.goMessages()).to.deep.equal([
      'INF Configuration:',
      'INF   Mode: reverse proxy (SOCKS5 on server -> client -> network)',
      'INF   Token: P',
      'INF   SOCKS5 port: 9871',
      'INF   Connector Token: cccccccccccccccc',
      'INF   SOCKS5 username: u',
      'INF LinkSocks server started listen=0.0.0.0:8765 url=http://localhost:8765',
    ]);
    expect(h.lines.join('')).to.not.include('pw');
    h.signal();
    expect(await done).to.equal(0);
  });

  it('autonomy: no connector token, port -1', async () => {
    const { h, server, done } = start({ reverse: true, connectorAutonomy: true, token: 'P' });
    await h.subscribed;
    expect(server.calls).to.deep.equal(['reverse', 'start']);
    expect(h.goMessages()).to.deep.equal([
      'INF Configuration:',
      'INF   Mode: reverse proxy (SOCKS5 on server -> client -> network)',
      'INF   Token: P',
      'INF   SOCKS5 port: -1',
      'INF   Connector autonomy: enabled',
      'INF LinkSocks server started listen=0.0.0.0:8765 url=http://localhost:8765',
    ]);
    h.signal();
    expect(await done).to.equal(0);
  });

  it('API key: creates no tokens and prints no Configuration block or key', async () => {
    const { h, server, done } = start({ apiKey: 'SECRETKEY', token: 'T' });
    await h.subscribed;
    expect(server.calls).to.deep.equal(['start']);
    expect(h.goMessages()).to.deep.equal([
      'INF API endpoints enabled port=8765',
      'INF LinkSocks server started listen=0.0.0.0:8765 url=http://localhost:8765',
      'INF Admin page available url=http://localhost:8765/admin',
    ]);
    h.signal();
    expect(await done).to.equal(0);
    expect(h.lines.join('')).to.not.include('SECRETKEY');
    expect(h.lines.join('')).to.not.include('Configuration:');
  });

  it('token failure: Go message on stderr, status 1, server not started', async () => {
    const server = new FakeServer();
    server.failForward = new Error("'anonymous' is reserved and cannot be used as a token");
    const { h, done } = start({ token: 'anonymous' }, server);
    expect(await done).to.equal(1);
    expect(h.stderr).to.match(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d failed to add forward token: 'anonymous' is reserved/);
    expect(server.calls).to.not.include('start');
  });

  it('port 0 from the pool: "cannot allocate SOCKS5 port", status 1', async () => {
    const server = new FakeServer();
    server.reversePort = 0;
    const { h, done } = start({ reverse: true, socksPort: '9870' }, server);
    expect(await done).to.equal(1);
    expect(h.stderr).to.include('cannot allocate SOCKS5 port: 127.0.0.1:9870');
  });

  it('bind failure on start: status 1 with the error', async () => {
    const server = new FakeServer();
    server.failStart = new Error('listen EADDRINUSE: address already in use 0.0.0.0:8765');
    const { h, done } = start({}, server);
    expect(await done).to.equal(1);
    expect(h.stderr).to.include('EADDRINUSE');
    expect(server.calls.at(-1)).to.equal('close');
  });

  it('a server error event after start: logged, status 1', async () => {
    const { h, server, done } = start({});
    await h.subscribed;
    server.emit('error', new Error('boom'));
    expect(await done).to.equal(1);
    expect(h.messages().at(-1)).to.equal('ERR Server error occurred error=boom');
  });

  it('an error of the real server\'s HTTP server after start reaches runServer: logged, status 1', async () => {
    await withCapturedHttpServers(async (seen) => {
      const h = new Harness();
      const done = runServer(parseServerFlags({ wsHost: '127.0.0.1', wsPort: '0' }, {}), { ...h, createServer: (o) => new LinkSocksServer(o) });
      await h.subscribed;
      seen[0]!.emit('error', new Error('EMFILE'));
      expect(await done).to.equal(1);
      expect(h.messages().at(-1)).to.equal('ERR Server error occurred error=EMFILE');
    });
  });

  it('prints the HTTP-proxy UDP warning on stderr', async () => {
    const { h, done } = start({ upstreamProxy: 'http://127.0.0.1:3128' });
    await h.subscribed;
    expect(h.stderr).to.equal('Warning: HTTP proxy does not support UDP forwarding\n');
    h.signal();
    expect(await done).to.equal(0);
  });

  it('TLS: passes the PEM files to the library and reloads them on SIGHUP', async () => {
    const server = new FakeServer();
    const h = new Harness();
    let options: LinkSocksServerOptions | undefined;
    let generation = 1;
    const done = runServer(parseServerFlags({ tlsCert: 'c.pem', tlsKey: 'k.pem' }, {}), {
      ...h,
      createServer: (o) => {
        options = o;
        return server;
      },
      readFile: (path) => Buffer.from(`${path}#${generation}`),
    });
    await h.subscribed;
    expect(String(options?.tls?.cert)).to.equal('c.pem#1');
    expect(String(options?.tls?.key)).to.equal('k.pem#1');
    expect(h.messages().at(-1)).to.equal('INF LinkSocks server started listen=0.0.0.0:8765 url=https://localhost:8765');
    generation = 2;
    h.reloadHandler?.();
    expect(server.calls.at(-1)).to.equal('reloadTls:c.pem#2');
    h.signal();
    expect(await done).to.equal(0);
    expect(h.reloadHandler).to.equal(undefined);
  });

  it('TLS: unreadable files end with status 1 before anything starts', async () => {
    const server = new FakeServer();
    const h = new Harness();
    const code = await runServer(parseServerFlags({ tlsCert: 'c.pem', tlsKey: 'k.pem' }, {}), {
      ...h,
      createServer: () => server,
      readFile: () => {
        throw new Error('ENOENT: no such file');
      },
    });
    expect(code).to.equal(1);
    expect(h.stderr).to.include('cannot load TLS certificate/key: ENOENT');
    expect(server.calls).to.deep.equal([]);
  });

  it('Configuration summary names the audit log and the strategy when they are set, and only then', () => {
    const set = serverSummary(parseServerFlags({ reverse: true, auditLog: '/var/log/ls-audit.jsonl', strategy: 'least-channels' }, {}), { host: '127.0.0.1', port: 1 });
    expect(set).to.include({ audit_log: '/var/log/ls-audit.jsonl', strategy: 'least-channels' });
    const unset = serverSummary(parseServerFlags({ reverse: true }, {}), { host: '127.0.0.1', port: 1 });
    expect(unset).to.not.have.property('audit_log');
    expect(unset).to.not.have.property('strategy');
  });
});

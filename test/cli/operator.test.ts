import { expect } from 'chai';
import http from 'node:http';
import { parseHostPort, parseOperatorFlags } from '../../src/cli/operator-flags.js';
import { parseClientFlags, INSECURE_WARNING } from '../../src/cli/parse-client.js';
import { parseServerFlags } from '../../src/cli/parse-server.js';
import { runClient } from '../../src/cli/run-client.js';
import { runServer } from '../../src/cli/run-server.js';
import { formatGoDuration, maskProxyUrl } from '../../src/cli/summary.js';
import { FakeClient, FakeServer, Harness } from './fakes.js';

/** GET http://127.0.0.1:port/path → status and body. */
function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/**
 * The port of the "Metrics listener started addr=…" line, once it is printed (the server takes
 * signals before it starts the metrics listener, so the line may come a little later).
 */
async function metricsPort(h: Harness): Promise<number> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const line = h.messages().find((m) => m.startsWith('INF Metrics listener started'));
    const port = line?.match(/addr=127\.0\.0\.1:(\d+)/)?.[1];
    if (port !== undefined) return Number(port);
    if (Date.now() > deadline) throw new Error(`no metrics line in:\n${h.messages().join('\n')}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('cli operator flags', () => {
  describe('parsing', () => {
    it('--log-format: text by default, flag beats LINKSOCKS_LOG_FORMAT, bad values rejected', () => {
      expect(parseOperatorFlags({}, {}).logFormat).to.equal('text');
      expect(parseOperatorFlags({}, { LINKSOCKS_LOG_FORMAT: ' JSON ' }).logFormat).to.equal('json');
      expect(parseOperatorFlags({ logFormat: 'text' }, { LINKSOCKS_LOG_FORMAT: 'json' }).logFormat).to.equal('text');
      expect(() => parseOperatorFlags({ logFormat: 'xml' }, {})).to.throw('invalid log-format: "xml" (supported: text|json)');
      expect(parseServerFlags({ logFormat: 'json' }, {}).logFormat).to.equal('json');
      expect(parseClientFlags('client', {}, { LINKSOCKS_LOG_FORMAT: 'json' }).logFormat).to.equal('json');
    });

    it('--metrics-listen: HOST:PORT, [v6]:PORT, :PORT; env LINKSOCKS_METRICS_LISTEN', () => {
      expect(parseHostPort('127.0.0.1:9100', 'f')).to.deep.equal({ host: '127.0.0.1', port: 9100 });
      expect(parseHostPort('[::1]:9100', 'f')).to.deep.equal({ host: '::1', port: 9100 });
      expect(parseHostPort(':9100', 'f')).to.deep.equal({ host: '0.0.0.0', port: 9100 });
      expect(() => parseHostPort('9100', '--metrics-listen')).to.throw('for "--metrics-listen" flag: expected HOST:PORT');
      expect(() => parseHostPort('h:70000', '--metrics-listen')).to.throw('port must be between 0 and 65535');
      expect(parseServerFlags({}, { LINKSOCKS_METRICS_LISTEN: 'localhost:1' }).metricsListen).to.deep.equal({ host: 'localhost', port: 1 });
      expect(parseClientFlags('provider', { metricsListen: ':2' }, {}).metricsListen).to.deep.equal({ host: '0.0.0.0', port: 2 });
      expect(parseClientFlags('client', {}, {})).to.not.have.property('metricsListen');
    });

    it('--insecure adds the loud warning', () => {
      expect(parseClientFlags('client', { insecure: true }, {}).warnings).to.deep.equal([INSECURE_WARNING]);
    });
  });

  describe('summary helpers', () => {
    it('masks proxy credentials', () => {
      expect(maskProxyUrl('socks5://user:pw@proxy:1080')).to.equal('socks5://***:***@proxy:1080');
      expect(maskProxyUrl('http://user@proxy:8080')).to.equal('http://***@proxy:8080');
      expect(maskProxyUrl('http://proxy:8080')).to.equal('http://proxy:8080');
      expect(maskProxyUrl('::not a url')).to.equal('***');
    });

    it('formats Go durations', () => {
      expect([0, 250, 1000, 30_000, 90_000, 3_600_000, 3_661_500].map(formatGoDuration)).to.deep.equal([
        '0s', '250ms', '1s', '30s', '1m30s', '1h0m0s', '1h1m1.5s',
      ]);
    });
  });

  describe('Configuration summary line', () => {
    it('server: effective settings, every secret as ***', async () => {
      const h = new Harness();
      const flags = {
        reverse: true,
        token: 'SECRETTOKEN',
        connectorToken: 'SECRETCONN',
        socksUsername: 'u',
        socksPassword: 'SECRETPW',
        upstreamProxy: 'socks5://pu:SECRETPROXY@proxy:1080',
        fastOpen: true,
        metrics: true,
        drainTimeout: '5s',
        stateFile: '/var/lib/ls.json',
      };
      const done = runServer(parseServerFlags(flags, {}), { ...h, createServer: () => new FakeServer() });
      await h.subscribed;
      expect(h.summary()).to.deep.equal({
        listen: '0.0.0.0:8765',
        mode: 'reverse',
        tls: 'off',
        fast_open: 'on',
        metrics: 'on',
        metrics_listen: 'off',
        drain_timeout: '5s',
        upstream_proxy: 'socks5://***:***@proxy:1080',
        state_file: '/var/lib/ls.json',
        log_format: 'text',
        socks_host: '127.0.0.1',
        socks_port: '9870',
        socks_username: 'u',
        socks_password: '***',
        token: '***',
      });
      // Text format keeps Go's scraped lines; nothing else shows a secret.
      const other = h.messages().filter((m) => !/^INF {3}(Connector )?Token: /.test(m));
      expect(other.join('\n')).to.not.match(/SECRET/);
      expect(h.messages()).to.include('INF   Token: SECRETTOKEN');
      h.signal();
      expect(await done).to.equal(0);
    });

    it('server with an API key: api_key=***, no token field', async () => {
      const h = new Harness();
      const done = runServer(parseServerFlags({ apiKey: 'SECRETKEY' }, {}), { ...h, createServer: () => new FakeServer() });
      await h.subscribed;
      expect(h.summary()).to.include({ mode: 'api', api_key: '***' }).and.not.have.property('token');
      expect(h.lines.join('')).to.not.include('SECRETKEY');
      h.signal();
      expect(await done).to.equal(0);
    });

    it('client: url, role, socks listen, threads, reconnect; secrets masked', async () => {
      const h = new Harness();
      const client = new FakeClient();
      const flags = { token: 'SECRETTOKEN', url: 'wss://relay:443', socksPort: '1080', threads: '3', reconnect: false, socksUsername: 'u', socksPassword: 'SECRETPW', insecure: true };
      const done = runClient(parseClientFlags('connector', flags, {}), { ...h, createClient: () => client });
      await h.subscribed;
      expect(h.summary()).to.deep.equal({
        url: 'wss://relay:443',
        role: 'connector',
        threads: '3',
        reconnect: 'off',
        fast_open: 'off',
        metrics_listen: 'off',
        log_format: 'text',
        token: '***',
        socks_listen: '127.0.0.1:1080',
        socks_username: 'u',
        socks_password: '***',
        tls_verify: 'off',
      });
      expect(h.lines.join('')).to.not.include('SECRET');
      expect(h.stderr).to.include(INSECURE_WARNING);
      expect(h.messages()).to.include(`WRN ${INSECURE_WARNING}`);
      h.signal();
      expect(await done).to.equal(0);
    });
  });

  describe('json format start-up lines', () => {
    it('a token given by the operator is masked in the Token: lines; a generated one is shown once', async () => {
      const given = new Harness();
      const doneGiven = runServer(parseServerFlags({ logFormat: 'json', reverse: true, token: 'SECRETTOKEN', connectorToken: 'SECRETCONN' }, {}), {
        ...given,
        createServer: () => new FakeServer(),
      });
      await given.subscribed;
      expect(given.goMessages()).to.include.members(['INF   Token: ***', 'INF   Connector Token: ***']);
      expect(given.lines.join('')).to.not.include('SECRET');
      given.signal();
      expect(await doneGiven).to.equal(0);

      const generated = new Harness();
      const doneGenerated = runServer(parseServerFlags({ logFormat: 'json' }, {}), { ...generated, createServer: () => new FakeServer() });
      await generated.subscribed;
      expect(generated.goMessages()).to.include('INF   Token: 0123456789abcdef');
      generated.signal();
      expect(await doneGenerated).to.equal(0);
    });
  });

  describe('--metrics-listen', () => {
    it('server: serves /metrics only, closes on shutdown', async () => {
      const h = new Harness();
      const done = runServer(parseServerFlags({ metricsListen: '127.0.0.1:0' }, {}), { ...h, createServer: () => new FakeServer() });
      await h.subscribed;
      const port = await metricsPort(h);
      const scrape = await get(port, '/metrics');
      expect(scrape.status).to.equal(200);
      expect(scrape.body).to.include('linksocks_channels_open 0');
      expect((await get(port, '/api/status')).status).to.equal(404);
      expect(h.summary()).to.include({ metrics_listen: '127.0.0.1:0' });
      h.signal();
      expect(await done).to.equal(0);
      const refused = await get(port, '/metrics').then(
        () => 'answered',
        (err: NodeJS.ErrnoException) => err.code,
      );
      expect(refused).to.equal('ECONNREFUSED');
    });

    it('server: reuses the --metrics registry instead of counting twice', async () => {
      const h = new Harness();
      const server = new FakeServer();
      const { Registry } = await import('prom-client');
      const registry = new Registry();
      registry.setDefaultLabels({ shared: 'yes' });
      Object.assign(server, { metricsRegistry: registry });
      const done = runServer(parseServerFlags({ metrics: true, metricsListen: '127.0.0.1:0' }, {}), { ...h, createServer: () => server });
      await h.subscribed;
      const scrape = await get(await metricsPort(h), '/metrics');
      // The shared registry has no metrics of its own; an attached one would list linksocks_*.
      expect(scrape.body).to.not.include('linksocks_');
      h.signal();
      expect(await done).to.equal(0);
    });

    it('client: serves the client metrics while connecting; a busy port is fatal', async () => {
      const h = new Harness();
      const client = new FakeClient();
      client.counters.channelsOpen = 2;
      const done = runClient(parseClientFlags('client', { metricsListen: '127.0.0.1:0' }, {}), { ...h, createClient: () => client });
      await h.subscribed;
      const port = await metricsPort(h);
      expect((await get(port, '/metrics')).body).to.include('linksocks_channels_open 2');

      const h2 = new Harness();
      const code = await runClient(parseClientFlags('client', { metricsListen: `127.0.0.1:${port}` }, {}), {
        ...h2,
        createClient: () => new FakeClient(),
      });
      expect(code).to.equal(1);
      expect(h2.stderr).to.include('cannot start metrics listener: listen EADDRINUSE');

      h.signal();
      expect(await done).to.equal(0);
    });
  });
});

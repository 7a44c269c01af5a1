// Cross-implementation checks of single features that the mode matrix (interop.test.ts) does not
// cover: a provider's upstream SOCKS5 proxy (-x), connector tokens surviving a provider reconnect,
// and wss:// against our TLS-terminating server. Go binary from LINKSOCKS_BIN, as there.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { expect } from 'chai';

import { startDirectSocksServer, type DirectSocksServer } from '../test/helpers/direct-socks.js';
import { LOCALHOST, startEchoServer } from '../test/helpers/net.js';
import { makeSelfSignedCertificate } from '../test/helpers/tls.js';
import { skipUnlessPeersAvailable } from './guard.js';
import { PAIRS } from './pairs.js';
import {
  PROVIDER_READY,
  runClientExpectingExit,
  startClient,
  startConnector,
  startProvider,
  startServer,
  waitForLineAfter,
  type Impl,
} from './peers.js';
import { checkClosedPortRefused, checkHashedTransfer, checkLargeEcho, setupReverse, type Fixture } from './scenarios.js';

describe('interop features (requires LINKSOCKS_BIN)', function () {
  this.timeout(30_000);

  for (const [serverImpl, providerImpl] of PAIRS) {
    describe(`reverse mode, ${providerImpl} provider with -x socks5://upstream, ${serverImpl} server`, function () {
      let upstream: DirectSocksServer | undefined;
      let fixture: Fixture | undefined;
      before(async function () {
        await skipUnlessPeersAvailable(this, [serverImpl, providerImpl]);
        upstream = await startDirectSocksServer();
        fixture = await setupReverse(serverImpl, providerImpl, ['-x', `socks5://${LOCALHOST}:${upstream.port}`]);
      });
      after(async function () {
        await fixture?.stop();
        await upstream?.close();
      });

      it('relays 1 MiB, and the provider dialled the target through the upstream proxy', async function () {
        if (!fixture || !upstream) throw new Error('setup did not complete');
        const before = upstream.targets.length;
        await checkLargeEcho(fixture);
        expect(upstream.targets.slice(before)).to.deep.equal([`${LOCALHOST}:${fixture.echo.port}`]);
      });
      it('answers CONNECT to a closed port with a SOCKS5 failure (refused by the upstream)', async function () {
        if (!fixture || !upstream) throw new Error('setup did not complete');
        const before = upstream.targets.length;
        await checkClosedPortRefused(fixture);
        expect(upstream.targets.length - before).to.equal(1);
      });
    });
  }

  describe('autonomy mode, ts provider and connector reconnect to a restarted ts server', function () {
    before(async function () {
      await skipUnlessPeersAvailable(this, ['ts']);
    });

    it('keeps the provider-added connector token working after the server restarts on the same port', async function () {
      this.timeout(60_000);
      const token = 'interop-autonomy-restart';
      const connectorToken = 'interop-autonomy-restart-connector';
      const echo = await startEchoServer();
      let server = await startServer('ts', { token, autonomy: true });
      try {
        const provider = await startProvider('ts', { url: server.url, token, connectorToken });
        await server.proc.waitForLine(/New connector token added/, 10_000);
        // --retry-auth: after the restart the connector may come back before the provider has
        // re-added its token; that refusal must not make it give up.
        const connector = await startConnector('ts', { url: server.url, token: connectorToken, extraArgs: ['--retry-auth'] });
        const fixture: Fixture = { socksPort: connector.socksPort, echo, server, stop: async () => undefined };
        await checkLargeEcho(fixture);

        const providerMark = provider.proc.lines.length;
        const connectorMark = connector.proc.lines.length;
        await server.stop();
        server = await startServer('ts', { token, autonomy: true, wsPort: server.wsPort });

        await waitForLineAfter(provider.proc, PROVIDER_READY, providerMark, 30_000);
        await server.proc.waitForLine(/New connector token added/, 10_000);
        await waitForLineAfter(connector.proc, /Authentication successful for forward proxy/, connectorMark, 30_000);
        await checkLargeEcho({ ...fixture, server });
      } finally {
        // Provider and connector were spawned inside this test: the process registry stops them.
        await server.stop();
        await echo.close();
      }
    });
  });

  describe('wss:// to a ts server with --tls-cert/--tls-key', function () {
    let certDir: string | undefined;
    let tls: { certFile: string; keyFile: string } | undefined;
    before(async function () {
      await skipUnlessPeersAvailable(this, ['go', 'ts']);
      const { cert, key } = await makeSelfSignedCertificate('localhost');
      certDir = await mkdtemp(path.join(os.tmpdir(), 'linksocks-interop-tls-'));
      tls = { certFile: path.join(certDir, 'cert.pem'), keyFile: path.join(certDir, 'key.pem') };
      await writeFile(tls.certFile, cert);
      await writeFile(tls.keyFile, key);
    });
    after(async function () {
      if (certDir) await rm(certDir, { recursive: true, force: true });
    });

    it('go forward client without SSL_CERT_FILE refuses the self-signed certificate (control)', async function () {
      if (!tls) throw new Error('setup did not complete');
      const server = await startServer('ts', { token: 'interop-tls-token', tls });
      try {
        const { exit, proc } = await runClientExpectingExit('go', { url: server.url, token: 'interop-tls-token' });
        expect(exit.code, proc.output()).to.not.equal(0);
        expect(proc.findLine(/certificate/), proc.output()).to.not.equal(undefined);
      } finally {
        await server.stop();
      }
    });

    const clients: ReadonlyArray<{ impl: Impl; how: string }> = [
      { impl: 'go', how: 'trusting the certificate through SSL_CERT_FILE' },
      { impl: 'ts', how: 'trusting the certificate through --ca' },
    ];
    for (const { impl, how } of clients) {
      it(`${impl} forward client, ${how}, relays 16 MiB both ways`, async function () {
        if (!tls) throw new Error('setup did not complete');
        const echo = await startEchoServer();
        const server = await startServer('ts', { token: 'interop-tls-token', tls });
        try {
          const trust = impl === 'go' ? { env: { SSL_CERT_FILE: tls.certFile } } : { extraArgs: ['--ca', tls.certFile] };
          const client = await startClient(impl, { url: server.url, token: 'interop-tls-token', ...trust });
          expect(server.url).to.match(/^wss:\/\/localhost:\d+$/);
          await checkHashedTransfer({ socksPort: client.socksPort, echo, server, stop: async () => undefined });
        } finally {
          await server.stop();
          await echo.close();
        }
      });
    }
  });
});

// No secret (token, its SHA-256, API key, SOCKS password) may reach the logs at any level.
import { expect } from 'chai';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { freePort, LOCALHOST, startEchoServer } from '../helpers/net.js';
import type { EchoServer } from '../helpers/net.js';
import { makePayload } from '../helpers/payload.js';
import { socksConnect, socksEcho } from '../helpers/socks.js';
import { assertNoLeakedHandles, snapshotResources } from '../helpers/leaks.js';
import type { ResourceSnapshot } from '../helpers/leaks.js';
import { tokenHash, waitUntil } from './rig.js';

/** Everything a pino logger wrote, as text. */
function memoryLogger(): { logger: pino.Logger; text: () => string } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'trace' }, sink), text: () => chunks.join('') };
}

describe('reliability: secrets stay out of the logs', function () {
  const closers: Array<() => Promise<unknown>> = [];
  let echo: EchoServer;
  let handles: ResourceSnapshot;

  beforeEach(async function () {
    handles = snapshotResources();
    echo = await startEchoServer();
  });

  afterEach(async function () {
    for (const close of closers.splice(0).reverse()) await close();
    await echo.close();
    await assertNoLeakedHandles(handles, { graceMs: 3000 });
  });

  it('logs no token, token hash, API key or SOCKS password at trace level', async function () {
    const secrets = {
      forwardToken: 'fwd-SECRET-4f1c9a',
      reverseToken: 'rev-SECRET-77ab02',
      connectorToken: 'conn-SECRET-0d3e5f',
      apiToken: 'api-made-SECRET-9c81',
      wrongToken: 'wrong-SECRET-a1b2c3',
      apiKey: 'APIKEY-SECRET-5e6f70',
      socksPassword: 'PASS-SECRET-112233',
      clientSocksPassword: 'CPASS-SECRET-445566',
    };
    const serverLog = memoryLogger();
    const clientLog = memoryLogger();
    const server = new LinkSocksServer({ host: LOCALHOST, port: 0, apiKey: secrets.apiKey, logger: serverLog.logger, providerWaitMs: 2000 });
    closers.push(() => server.close());
    await server.start();
    const url = `ws://${LOCALHOST}:${server.address().port}`;
    const reversePort = await freePort();
    server.addForwardToken(secrets.forwardToken);
    server.addReverseToken({ token: secrets.reverseToken, port: reversePort, username: 'user', password: secrets.socksPassword });
    server.addConnectorToken(secrets.connectorToken, secrets.reverseToken);

    // Successful authentications in every role, both authentication forms, with traffic.
    const forward = new LinkSocksClient({
      url, token: secrets.forwardToken, socksPort: 0, logger: clientLog.logger,
      socksUsername: 'cuser', socksPassword: secrets.clientSocksPassword,
    });
    closers.push(() => forward.close());
    await forward.start();
    const provider = new LinkSocksClient({ url: `${url}/socket/`, token: secrets.reverseToken, reverse: true, logger: clientLog.logger });
    closers.push(() => provider.close());
    await provider.start();
    const connector = new LinkSocksClient({ url, token: secrets.connectorToken, socksPort: 0, logger: clientLog.logger });
    closers.push(() => connector.close());
    await connector.start();

    const payload = makePayload(64 * 1024, 81);
    const viaForward = await socksConnect({ proxyPort: forward.socksAddress()!.port, host: LOCALHOST, port: echo.port, userId: 'cuser', password: secrets.clientSocksPassword });
    viaForward.destroy();
    const viaReverse = await socksConnect({ proxyPort: reversePort, host: LOCALHOST, port: echo.port, userId: 'user', password: secrets.socksPassword });
    viaReverse.destroy();
    expect((await socksEcho(connector.socksAddress()!.port, echo.port, payload)).equals(payload)).to.equal(true);
    // A wrong SOCKS password is refused (and must not be logged either).
    await socksConnect({ proxyPort: reversePort, host: LOCALHOST, port: echo.port, userId: 'user', password: `${secrets.socksPassword}-bad` }).then(
      (s) => s.destroy(),
      () => undefined,
    );

    // Failed authentications, both forms.
    for (const path of ['', '/socket/']) {
      const wrong = new LinkSocksClient({ url: `${url}${path}`, token: secrets.wrongToken, socksPort: 0, logger: clientLog.logger });
      const failed = await wrong.start().then(() => false, () => true);
      await wrong.close();
      expect(failed).to.equal(true);
    }

    // API calls: with the right key, a wrong key, and a token carrying a password.
    const api = `http://${LOCALHOST}:${server.address().port}/api`;
    const headers = { 'X-API-Key': secrets.apiKey, 'Content-Type': 'application/json' };
    const created = await fetch(`${api}/token`, {
      method: 'POST', headers,
      body: JSON.stringify({ type: 'reverse', token: secrets.apiToken, port: await freePort(), username: 'u2', password: secrets.socksPassword }),
    });
    expect(created.status).to.equal(200);
    expect((await fetch(`${api}/status`, { headers })).status).to.equal(200);
    expect((await fetch(`${api}/status`, { headers: { 'X-API-Key': `${secrets.apiKey}-bad` } })).status).to.equal(401);
    const removed = await fetch(`${api}/token`, { method: 'DELETE', headers, body: JSON.stringify({ token: secrets.apiToken }) });
    expect(removed.status).to.equal(200);

    await Promise.all([forward.close(), provider.close(), connector.close()]);
    await waitUntil(() => server.counters.channelsOpen === 0, 3000, 'channels released');

    const logs = { server: serverLog.text(), client: clientLog.text() };
    expect(logs.server.length).to.be.above(0);
    expect(logs.client.length).to.be.above(0);
    // The failures were logged (so the check below looked at the right lines).
    expect(logs.server).to.include('Authentication failed');
    for (const [where, text] of Object.entries(logs)) {
      for (const [name, secret] of Object.entries(secrets)) {
        expect(text.includes(secret), `${name} found in ${where} log`).to.equal(false);
        if (name.endsWith('Token')) {
          expect(text.includes(tokenHash(secret)), `hash of ${name} found in ${where} log`).to.equal(false);
        }
      }
    }
  });
});

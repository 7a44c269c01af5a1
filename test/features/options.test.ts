import { expect } from 'chai';
import {
  InvalidArgumentError,
  LinkSocksClient,
  LinkSocksServer,
  type LinkSocksClientOptions,
  type LinkSocksServerOptions,
} from '../../src/index.js';
import { CLIENT_DEFAULTS, MAX_SERVER_URLS, resolveClientOptions } from '../../src/client/options.js';
import { SERVER_DEFAULTS, resolveServerOptions } from '../../src/server/options.js';
import { SERVER_DEFAULTS as CLI_SERVER_DEFAULTS } from '../../src/cli/parse-server.js';
import { CLIENT_DEFAULTS as CLI_CLIENT_DEFAULTS } from '../../src/cli/parse-client.js';
import { DEFAULT_API_URL } from '../../src/cli/token-command.js';

type Bad = [option: string, value: unknown];

/** Values of the wrong type or out of range, with the option name the error must carry. */
const BAD_SERVER: Bad[] = [
  ['host', 42],
  ['host', ''],
  ['port', -1],
  ['port', 65536],
  ['port', 80.5],
  ['port', '8765'],
  ['port', Number.NaN],
  ['socksHost', null],
  ['portPool', 'all'],
  ['portPool.min', 0],
  ['portPool.max', '2000'],
  ['apiKey', 123],
  ['httpConnect', 'yes'],
  ['fastOpen', 1],
  ['upstreamProxy', {}],
  ['bufferSize', 0],
  ['bufferSize', '1024'],
  ['connectTimeoutMs', Number.NaN],
  ['connectTimeoutMs', -5],
  ['providerWaitMs', Number.POSITIVE_INFINITY],
  ['connectorWaitProviderMs', '5s'],
  ['channelIdleTimeoutMs', Number.NaN],
  ['metrics', 'true'],
  ['authRateLimit', 5],
  ['authRateLimit.burst', 0],
  ['authRateLimit.refillPerSecond', 0],
  ['authRateLimit.maxAddresses', 1.5],
  ['maxConnectionsPerToken', -1],
  ['maxChannelsPerLink', '100'],
  ['maxChannelsPerLink', 0],
  ['socksHandshakeTimeoutMs', Number.NaN],
  ['stateFile', 7],
  ['tls', 'cert.pem'],
  ['tls.cert', 5],
  ['tls.key', undefined],
  ['httpServer', {}],
  ['logger', console],
];

const BAD_CLIENT: Bad[] = [
  ['token', 5],
  ['url', 8765],
  ['url', 'ws://[::1'],
  ['reverse', 'true'],
  ['connectorToken', false],
  ['socksHost', ''],
  ['socksPort', -1],
  ['socksPort', 70000],
  ['socksPort', '1080'],
  ['socksUsername', 1],
  ['socksPassword', []],
  ['socksHandshakeTimeoutMs', Number.NaN],
  ['maxChannelsPerLink', '16384'],
  ['maxChannelsPerLink', -3],
  ['httpConnect', 0],
  ['socksNoWait', 'no'],
  ['reconnect', 'false'],
  ['retryAuth', 1],
  ['threads', 1.5],
  ['threads', '4'],
  ['upstreamProxy', 1080],
  ['fastOpen', null],
  ['noEnvProxy', 'yes'],
  ['ca', 42],
  ['insecure', 'yes'],
  ['bufferSize', -1],
  ['connectTimeoutMs', Number.NaN],
  ['linkWaitMs', -1],
  ['reconnectDelayMs', '1s'],
  ['maxReconnectDelayMs', Number.NaN],
  ['logger', { info: () => undefined }],
];

/** Builds the options object, nesting `a.b` names. */
function optionsWith([option, value]: Bad): Record<string, unknown> {
  const [head, sub] = option.split('.') as [string, string | undefined];
  if (sub === undefined) return { [head]: value };
  if (head === 'tls') return { tls: { cert: 'CERT', key: 'KEY', [sub]: value } };
  return { [head]: { [sub]: value } };
}

function expectInvalid(build: () => unknown, option: string): void {
  let thrown: unknown;
  try {
    build();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, `no error for ${option}`).to.be.instanceOf(InvalidArgumentError);
  const err = thrown as InvalidArgumentError;
  expect(err.code).to.equal('ERR_LINKSOCKS_INVALID_ARGUMENT');
  expect(err.option).to.equal(option);
  expect(err.message).to.contain(option);
}

describe('options: defaults and validation', function () {
  describe('server', function () {
    for (const bad of BAD_SERVER) {
      it(`refuses ${bad[0]} = ${String(bad[1])} at construction`, function () {
        expectInvalid(() => new LinkSocksServer(optionsWith(bad) as LinkSocksServerOptions), bad[0]);
      });
    }

    it('fills in the documented defaults and freezes the result', function () {
      const o = resolveServerOptions();
      expect(o).to.include({
        host: '0.0.0.0',
        port: 8765,
        socksHost: '127.0.0.1',
        httpConnect: true,
        fastOpen: false,
        bufferSize: 1024 * 1024,
        connectTimeoutMs: 10_000,
        providerWaitMs: 10_000,
        connectorWaitProviderMs: 5_000,
        channelIdleTimeoutMs: 12 * 60 * 60 * 1000,
        metrics: false,
        maxConnectionsPerToken: 1024,
        maxChannelsPerLink: 16_384,
        socksHandshakeTimeoutMs: 10_000,
      });
      expect(o.portPool).to.deep.equal({ min: 1024, max: 10240 });
      expect(o.authRateLimit).to.deep.equal({ burst: 20, refillPerSecond: 1, maxAddresses: 10_000 });
      expect(o.apiKey).to.equal(undefined);
      expect(Object.isFrozen(o)).to.equal(true);
      expect(Object.isFrozen(o.portPool)).to.equal(true);
      expect(Object.isFrozen(o.authRateLimit)).to.equal(true);
      expect(Object.isFrozen(SERVER_DEFAULTS)).to.equal(true);
    });

    it('keeps given values and fills only what is missing', function () {
      const o = resolveServerOptions({ port: 0, authRateLimit: { burst: 3 }, portPool: { min: 2000, max: 2001 } });
      expect(o.port).to.equal(0);
      expect(o.authRateLimit).to.deep.equal({ burst: 3, refillPerSecond: 1, maxAddresses: 10_000 });
      expect(o.portPool).to.deep.equal({ min: 2000, max: 2001 });
      expectInvalid(() => resolveServerOptions({ portPool: { min: 3000, max: 2000 } }), 'portPool');
    });

    it('exposes the resolved options on the instance', function () {
      const server = new LinkSocksServer({ port: 0 });
      expect(server.options.port).to.equal(0);
      expect(server.options.maxChannelsPerLink).to.equal(SERVER_DEFAULTS.maxChannelsPerLink);
    });
  });

  describe('client', function () {
    for (const bad of BAD_CLIENT) {
      it(`refuses ${bad[0]} = ${String(bad[1])} at construction`, function () {
        expectInvalid(() => new LinkSocksClient(optionsWith(bad) as LinkSocksClientOptions), bad[0]);
      });
    }

    it('fills in the documented defaults and freezes the result', function () {
      const o = resolveClientOptions();
      expect(o).to.include({
        token: 'anonymous',
        url: 'ws://localhost:8765',
        reverse: false,
        socksHost: '127.0.0.1',
        socksPort: 9870,
        socksHandshakeTimeoutMs: 10_000,
        maxChannelsPerLink: 16_384,
        httpConnect: true,
        socksNoWait: false,
        reconnect: false,
        retryAuth: false,
        threads: 1,
        fastOpen: false,
        insecure: false,
        bufferSize: 1024 * 1024,
        connectTimeoutMs: 10_000,
        linkWaitMs: 10_000,
        reconnectDelayMs: 1000,
        maxReconnectDelayMs: 10 * 60 * 1000,
      });
      expect(Object.isFrozen(o)).to.equal(true);
      expect(Object.isFrozen(CLIENT_DEFAULTS)).to.equal(true);
    });

    it('takes a failover list in url: frozen, the first as url, every entry checked', function () {
      const o = resolveClientOptions({ url: ['ws://127.0.0.1:1', 'wss://relay.example:443/socket'] });
      expect(o.url).to.equal('ws://127.0.0.1:1');
      expect(o.urls).to.deep.equal(['ws://127.0.0.1:1', 'wss://relay.example:443/socket']);
      expect(Object.isFrozen(o.urls)).to.equal(true);
      expect(resolveClientOptions({ url: 'ws://h:1' }).urls).to.deep.equal(['ws://h:1']);
      expect(resolveClientOptions().urls).to.deep.equal(['ws://localhost:8765']);
      expectInvalid(() => resolveClientOptions({ url: [] }), 'url');
      expectInvalid(() => resolveClientOptions({ url: ['ws://h:1', ''] }), 'url[1]');
      expectInvalid(() => resolveClientOptions({ url: ['ws://h:1', 'ws://[::1'] }), 'url[1]');
      expectInvalid(() => resolveClientOptions({ url: ['ws://h:1', 7] as unknown as string[] }), 'url[1]');
      expectInvalid(() => resolveClientOptions({ url: [undefined] as unknown as string[] }), 'url[0]');
      expectInvalid(() => resolveClientOptions({ url: Array.from({ length: MAX_SERVER_URLS + 1 }, (_, i) => `ws://h:${i + 1}`) }), 'url');
      expect(resolveClientOptions({ url: Array.from({ length: MAX_SERVER_URLS }, (_, i) => `ws://h:${i + 1}`) }).urls).to.have.length(MAX_SERVER_URLS);
    });

    it('treats an empty token as anonymous and accepts Go -T values (negative = per CPU)', function () {
      expect(resolveClientOptions({ token: '' }).token).to.equal('anonymous');
      expect(resolveClientOptions({ threads: -1 }).threads).to.equal(-1);
      expect(resolveClientOptions({ socksPort: 0 }).socksPort).to.equal(0);
    });
  });

  it('the CLI shows and uses the library defaults', function () {
    expect(CLI_SERVER_DEFAULTS.wsHost).to.equal(SERVER_DEFAULTS.host);
    expect(CLI_SERVER_DEFAULTS.wsPort).to.equal(SERVER_DEFAULTS.port);
    expect(CLI_SERVER_DEFAULTS.socksHost).to.equal(SERVER_DEFAULTS.socksHost);
    expect(CLI_SERVER_DEFAULTS.bufferSize).to.equal(SERVER_DEFAULTS.bufferSize);
    expect(CLI_SERVER_DEFAULTS.connectorWaitProvider).to.equal('5s');
    expect(CLI_CLIENT_DEFAULTS.url).to.equal(CLIENT_DEFAULTS.url);
    expect(CLI_CLIENT_DEFAULTS.socksHost).to.equal(CLIENT_DEFAULTS.socksHost);
    expect(CLI_CLIENT_DEFAULTS.socksPort).to.equal(CLIENT_DEFAULTS.socksPort);
    expect(DEFAULT_API_URL).to.equal('http://127.0.0.1:8765');
  });
});

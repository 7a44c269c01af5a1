import { expect } from 'chai';
import { CliError } from '../../src/cli/errors.js';
import { parseClientFlags } from '../../src/cli/parse-client.js';
import { parseServerFlags } from '../../src/cli/parse-server.js';

describe('parseServerFlags', () => {
  it('applies Go defaults and plans a generated forward token', () => {
    const c = parseServerFlags({}, {});
    expect(c.serverOptions).to.deep.equal({
      host: '0.0.0.0',
      port: 8765,
      socksHost: '127.0.0.1',
      bufferSize: 1048576,
      connectorWaitProviderMs: 5000,
    });
    expect(c.plan).to.deep.equal({ mode: 'forward' });
    expect(c.debug).to.equal(0);
    expect(c.warnings).to.deep.equal([]);
    expect(c.tls).to.equal(undefined);
  });

  it('maps every flag', () => {
    const c = parseServerFlags(
      {
        wsHost: '127.0.0.1',
        wsPort: '9000',
        socksHost: '0.0.0.0',
        socksPort: '1080',
        bufferSize: '4096',
        fastOpen: true,
        upstreamProxy: 'socks5://127.0.0.1:1081',
        connectorWaitProvider: '2s',
        stateFile: 'tokens.json',
        metrics: true,
        debug: 2,
      },
      {},
    );
    expect(c.serverOptions).to.deep.equal({
      host: '127.0.0.1',
      port: 9000,
      socksHost: '0.0.0.0',
      bufferSize: 4096,
      connectorWaitProviderMs: 2000,
      fastOpen: true,
      upstreamProxy: 'socks5://127.0.0.1:1081',
      stateFile: 'tokens.json',
      metrics: true,
    });
    expect(c.debug).to.equal(2);
  });

  it('plans reverse, agent and autonomy set-ups', () => {
    expect(parseServerFlags({ reverse: true, token: 'P', socksPort: '9871' }, {}).plan).to.deep.equal({
      mode: 'reverse',
      token: 'P',
      port: 9871,
    });
    expect(
      parseServerFlags({ reverse: true, token: 'P', connectorToken: 'C', socksUsername: 'u', socksPassword: 'pw' }, {})
        .plan,
    ).to.deep.equal({ mode: 'reverse', token: 'P', port: 9870, connectorToken: 'C', username: 'u', password: 'pw' });
    // -a: no connector token, even when -c is given (Go ignores it).
    expect(parseServerFlags({ reverse: true, connectorAutonomy: true, connectorToken: 'C' }, {}).plan).to.deep.equal({
      mode: 'autonomy',
      port: 9870,
    });
    // -a and -c without -r: a forward token.
    expect(parseServerFlags({ connectorAutonomy: true, connectorToken: 'C', token: 'T' }, {}).plan).to.deep.equal({
      mode: 'forward',
      token: 'T',
    });
  });

  it('creates no start-up tokens with an API key', () => {
    const c = parseServerFlags({ apiKey: 'K', token: 'T', reverse: true }, {});
    expect(c.plan).to.deep.equal({ mode: 'api' });
    expect(c.serverOptions.apiKey).to.equal('K');
  });

  it('falls back to LINKSOCKS_* variables', () => {
    const c = parseServerFlags(
      { reverse: true },
      {
        LINKSOCKS_WEBSOCKET_HOST: '127.0.0.2',
        LINKSOCKS_WEBSOCKET_PORT: ' 9001 ',
        LINKSOCKS_TOKEN: 'envT',
        LINKSOCKS_CONNECTOR_TOKEN: 'envC',
        LINKSOCKS_SOCKS_HOST: '0.0.0.0',
        LINKSOCKS_SOCKS_PORT: '1090',
        LINKSOCKS_SOCKS_USERNAME: 'eu',
        LINKSOCKS_SOCKS_PASSWORD: 'ep',
        LINKSOCKS_UPSTREAM_PROXY: 'http://127.0.0.1:3128',
        LINKSOCKS_FASTOPEN: 'true',
        LINKSOCKS_STATE_FILE: 'state.json',
      },
    );
    expect(c.serverOptions).to.include({
      host: '127.0.0.2',
      port: 9001,
      socksHost: '0.0.0.0',
      fastOpen: true,
      upstreamProxy: 'http://127.0.0.1:3128',
      stateFile: 'state.json',
    });
    expect(c.plan).to.deep.equal({
      mode: 'reverse',
      token: 'envT',
      port: 1090,
      connectorToken: 'envC',
      username: 'eu',
      password: 'ep',
    });
    expect(c.warnings).to.deep.equal(['Warning: HTTP proxy does not support UDP forwarding']);
    expect(parseServerFlags({ reverse: true }, { LINKSOCKS_CONNECTOR_AUTONOMY: '1' }).plan.mode).to.equal('autonomy');
    expect(parseServerFlags({}, { LINKSOCKS_API_KEY: 'k' }).plan.mode).to.equal('api');
  });

  it('lets a given flag beat its variable, even an empty one', () => {
    const env = { LINKSOCKS_TOKEN: 'envT', LINKSOCKS_WEBSOCKET_PORT: '9001', LINKSOCKS_FASTOPEN: 'true' };
    const c = parseServerFlags({ token: 'flagT', wsPort: '9002', fastOpen: true }, env);
    expect(c.plan).to.deep.equal({ mode: 'forward', token: 'flagT' });
    expect(c.serverOptions.port).to.equal(9002);
    // `-t ""` wins over the variable and means "generate".
    expect(parseServerFlags({ token: '' }, env).plan).to.deep.equal({ mode: 'forward' });
    // Blank variables count as unset.
    expect(parseServerFlags({}, { LINKSOCKS_WEBSOCKET_PORT: '  ' }).serverOptions.port).to.equal(8765);
  });

  it('rejects bad values with status-1 errors', () => {
    expect(() => parseServerFlags({ wsPort: 'abc' }, {})).to.throw(CliError, '-P, --ws-port');
    expect(() => parseServerFlags({ wsPort: '65536' }, {})).to.throw(CliError, 'between 0 and 65535');
    expect(() => parseServerFlags({ socksPort: '1.5' }, {})).to.throw(CliError, '-p, --socks-port');
    expect(() => parseServerFlags({}, { LINKSOCKS_WEBSOCKET_PORT: 'x' })).to.throw('invalid LINKSOCKS_WEBSOCKET_PORT: "x"');
    expect(() => parseServerFlags({}, { LINKSOCKS_FASTOPEN: 'yes' })).to.throw('invalid LINKSOCKS_FASTOPEN: "yes"');
    expect(() => parseServerFlags({ bufferSize: '0' }, {})).to.throw(CliError, 'at least 1');
    expect(() => parseServerFlags({ connectorWaitProvider: '5' }, {})).to.throw(CliError, 'duration');
    expect(() => parseServerFlags({ upstreamProxy: 'ftp://x' }, {})).to.throw('unsupported proxy scheme: ftp');
    expect(() => parseServerFlags({ tlsCert: 'c.pem' }, {})).to.throw(CliError, '--tls-key');
  });

  it('passes the TLS file pair through', () => {
    expect(parseServerFlags({ tlsCert: 'c.pem', tlsKey: 'k.pem' }, {}).tls).to.deep.equal({
      certFile: 'c.pem',
      keyFile: 'k.pem',
    });
  });
});

describe('--transport-grace', () => {
  it('takes seconds or a Go duration, 0 turns grace off, negative or junk is refused', () => {
    expect(parseServerFlags({ transportGrace: '45' }, {}).serverOptions.transportGraceMs).to.equal(45_000);
    expect(parseServerFlags({ transportGrace: '1m30s' }, {}).serverOptions.transportGraceMs).to.equal(90_000);
    expect(parseServerFlags({ transportGrace: '0' }, {}).serverOptions.transportGraceMs).to.equal(0);
    expect(parseServerFlags({}, {}).serverOptions.transportGraceMs).to.equal(undefined);
    expect(parseClientFlags('client', { transportGrace: '2.5' }, {}).clientOptions.transportGraceMs).to.equal(2500);
    expect(() => parseServerFlags({ transportGrace: '-1s' }, {})).to.throw(CliError, /transport-grace/);
    expect(() => parseClientFlags('provider', { transportGrace: 'soon' }, {})).to.throw(CliError, /transport-grace/);
  });
});

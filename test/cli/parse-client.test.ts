import { expect } from 'chai';
import { CliError } from '../../src/cli/errors.js';
import { parseClientFlags } from '../../src/cli/parse-client.js';
import { clientSummary } from '../../src/cli/summary.js';

describe('parseClientFlags', () => {
  it('applies Go defaults (reconnect on, anonymous token left to the library)', () => {
    const c = parseClientFlags('client', { reconnect: true, envProxy: true }, {});
    expect(c.clientOptions).to.deep.equal({
      url: 'ws://localhost:8765',
      reverse: false,
      socksHost: '127.0.0.1',
      socksPort: 9870,
      socksNoWait: false,
      reconnect: true,
      retryAuth: false,
      threads: 1,
      fastOpen: false,
      noEnvProxy: false,
    });
    expect(c.addConnectorToken).to.equal(undefined);
    expect(c.debug).to.equal(0);
  });

  it('maps every flag', () => {
    const c = parseClientFlags(
      'client',
      {
        token: 'T',
        url: 'wss://example.test',
        socksHost: '0.0.0.0',
        socksPort: '1080',
        socksUsername: 'u',
        socksPassword: 'p',
        socksNoWait: true,
        reconnect: false,
        retryAuth: true,
        threads: '4',
        fastOpen: true,
        envProxy: false,
        insecure: true,
        ca: 'ca.pem',
        debug: 1,
      },
      {},
    );
    expect(c.clientOptions).to.deep.equal({
      token: 'T',
      url: 'wss://example.test',
      reverse: false,
      socksHost: '0.0.0.0',
      socksPort: 1080,
      socksUsername: 'u',
      socksPassword: 'p',
      socksNoWait: true,
      reconnect: false,
      retryAuth: true,
      threads: 4,
      fastOpen: true,
      noEnvProxy: true,
      insecure: true,
    });
    expect(c.caFile).to.equal('ca.pem');
    expect(c.debug).to.equal(1);
  });

  it('provider forces reverse; -c is only used by a provider', () => {
    const p = parseClientFlags('provider', { token: 'P', connectorToken: 'C' }, {});
    expect(p.clientOptions.reverse).to.equal(true);
    expect(p.addConnectorToken).to.equal('C');
    const r = parseClientFlags('client', { reverse: true, connectorToken: 'C' }, {});
    expect(r.clientOptions.reverse).to.equal(true);
    expect(r.addConnectorToken).to.equal('C');
    const fwd = parseClientFlags('connector', { token: 'C', connectorToken: 'X' }, {});
    expect(fwd.clientOptions.reverse).to.equal(false);
    expect(fwd.addConnectorToken).to.equal(undefined);
  });

  it('falls back to LINKSOCKS_* variables and lets flags win', () => {
    const env = {
      LINKSOCKS_TOKEN: 'envT',
      LINKSOCKS_URL: 'ws://env:1',
      LINKSOCKS_CONNECTOR_TOKEN: 'envC',
      LINKSOCKS_SOCKS_HOST: '0.0.0.0',
      LINKSOCKS_SOCKS_PORT: '1081',
      LINKSOCKS_SOCKS_USERNAME: 'eu',
      LINKSOCKS_SOCKS_PASSWORD: 'ep',
      LINKSOCKS_UPSTREAM_PROXY: 'socks5://127.0.0.1',
      LINKSOCKS_FASTOPEN: 'T',
      LINKSOCKS_RETRY_AUTH: '1',
    };
    const fromEnv = parseClientFlags('provider', {}, env);
    expect(fromEnv.clientOptions).to.include({
      token: 'envT',
      url: 'ws://env:1',
      socksHost: '0.0.0.0',
      socksPort: 1081,
      socksUsername: 'eu',
      socksPassword: 'ep',
      upstreamProxy: 'socks5://127.0.0.1',
      fastOpen: true,
      retryAuth: true,
    });
    expect(fromEnv.addConnectorToken).to.equal('envC');

    const fromFlags = parseClientFlags('client', { token: 'T', url: 'ws://flag:2', socksPort: '1082' }, env);
    expect(fromFlags.clientOptions).to.include({ token: 'T', url: 'ws://flag:2', socksPort: 1082 });
  });

  it('makes a failover list of a repeated -u, or of LINKSOCKS_URL split at commas and spaces', () => {
    expect(parseClientFlags('client', { url: ['ws://a:1'] }, {}).clientOptions.url).to.equal('ws://a:1');
    expect(parseClientFlags('provider', { url: ['ws://a:1', 'ws://b:2'] }, {}).clientOptions.url).to.deep.equal(['ws://a:1', 'ws://b:2']);
    const env = { LINKSOCKS_URL: ' ws://a:1, ws://b:2 ws://c:3,,' };
    expect(parseClientFlags('client', {}, env).clientOptions.url).to.deep.equal(['ws://a:1', 'ws://b:2', 'ws://c:3']);
    expect(parseClientFlags('client', {}, { LINKSOCKS_URL: 'ws://env:1' }).clientOptions.url).to.equal('ws://env:1');
    // Flags win over the variable, as for every option.
    expect(parseClientFlags('client', { url: ['ws://flag:2'] }, env).clientOptions.url).to.equal('ws://flag:2');
    expect(parseClientFlags('client', {}, { LINKSOCKS_URL: ' , ' }).clientOptions.url).to.equal('ws://localhost:8765');
  });

  it('the summary shows a failover list in order, never the token', () => {
    const config = parseClientFlags('provider', { token: 'secret-token', url: ['ws://a:1', 'ws://b:2'] }, {});
    const fields = clientSummary(config);
    expect(fields['url']).to.equal('ws://a:1,ws://b:2');
    expect(JSON.stringify(fields)).not.to.include('secret-token');
    const withUser = clientSummary(parseClientFlags('client', { url: ['ws://u:pw@a:1', 'b:2'] }, {}));
    expect(withUser['url']).to.equal('ws://***:***@a:1,b:2');
  });

  it('warns about UDP with an HTTP upstream proxy', () => {
    expect(parseClientFlags('provider', { upstreamProxy: 'http://127.0.0.1:8080' }, {}).warnings).to.deep.equal([
      'Warning: HTTP proxy does not support UDP forwarding',
    ]);
  });

  it('accepts Go direct-mode flags but only relays', () => {
    const c = parseClientFlags(
      'client',
      { directMode: ' Relay-Only ', directDiscovery: 'server', stunServer: ['a:1', 'b:2'], directUpnpLease: '1h' },
      {},
    );
    expect(c.clientOptions.url).to.equal('ws://localhost:8765');
    expect(() => parseClientFlags('client', { directMode: 'x' }, {})).to.throw(
      'invalid direct-mode: "x" (supported: relay-only|direct-only|auto)',
    );
    expect(() => parseClientFlags('client', { directMode: 'direct-only' }, {})).to.throw(CliError, 'not supported');
    expect(() => parseClientFlags('client', { directOnlyAction: 'maybe' }, {})).to.throw(CliError);
    expect(() => parseClientFlags('client', { directUpnpLease: '30' }, {})).to.throw(CliError);
  });

  it('rejects bad values', () => {
    expect(() => parseClientFlags('client', { socksPort: '99999' }, {})).to.throw(CliError, '-p, --socks-port');
    expect(() => parseClientFlags('client', { threads: '0' }, {})).to.throw(CliError, '-T, --threads');
    expect(() => parseClientFlags('client', { threads: 'two' }, {})).to.throw(CliError);
    expect(() => parseClientFlags('client', {}, { LINKSOCKS_SOCKS_PORT: 'p' })).to.throw('invalid LINKSOCKS_SOCKS_PORT: "p"');
    expect(() => parseClientFlags('client', {}, { LINKSOCKS_RETRY_AUTH: 'maybe' })).to.throw(
      'invalid LINKSOCKS_RETRY_AUTH: "maybe"',
    );
    expect(() => parseClientFlags('provider', { upstreamProxy: 'socks4://x' }, {})).to.throw(
      'unsupported proxy scheme: socks4',
    );
  });
});

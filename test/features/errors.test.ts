import { expect } from 'chai';
import * as lib from '../../src/index.js';

/** One instance of every error class the library exports, built the way the code builds them. */
const SAMPLES: Record<string, () => lib.LinkSocksError> = {
  LinkSocksError: () => new lib.LinkSocksError('ERR_LINKSOCKS_TEST', 'test'),
  InvalidArgumentError: () => new lib.InvalidArgumentError('port', 'must be an integer'),
  LinkSocksClientError: () => new lib.LinkSocksClientError('ERR_LINKSOCKS_CONNECTION', 'lost', true),
  AuthError: () => new lib.AuthError('authentication failed', 'invalid token', false),
  ConnectorError: () => new lib.ConnectorError('timeout'),
  TokenError: () => new lib.TokenError('ERR_LINKSOCKS_TOKEN_EXISTS', 'token already exists'),
  StateFileError: () => new lib.StateFileError('ERR_LINKSOCKS_STATE_READ', 'state.json', 'cannot be read'),
  UpstreamProxyError: () => new lib.UpstreamProxyError('ERR_UPSTREAM_URL', 'bad url'),
  UpstreamDialError: () => new lib.UpstreamDialError('ERR_UPSTREAM_TIMEOUT', 'timeout'),
  DialError: () => new lib.DialError('dial tcp 127.0.0.1:1: connection refused'),
  Socks5Error: () => new lib.Socks5Error('ERR_SOCKS5_TIMEOUT', 'timeout'),
  BodyError: () => new lib.BodyError('bad chunk size'),
  ProtocolError: () => new lib.ProtocolError('ERR_LINKSOCKS_TRUNCATED', 'short'),
  InvalidBodyError: () => new lib.InvalidBodyError('body is not JSON'),
  BodyTooLargeError: () => new lib.BodyTooLargeError('too large'),
  ApiClientError: () => new lib.ApiClientError('ERR_LINKSOCKS_API_REFUSED', 'refused', 401),
  CliError: () => new lib.CliError('ERR_CLI_INVALID_FLAG', 'bad flag'),
  AccessRuleError: () => new lib.AccessRuleError('rules[0].addrs[0]: invalid address "x"'),
  ClusterError: () => new lib.ClusterError('ERR_CLUSTER_CONNECT', 'cannot connect to Redis at redis://127.0.0.1:6379/: connect ECONNREFUSED'),
};

const CODE_SCHEME = /^ERR_(LINKSOCKS|SOCKS5|UPSTREAM|CLI|CLUSTER)_[A-Z0-9_]+$/;

function exportedErrorClasses(): string[] {
  return Object.entries(lib)
    .filter(([, value]) => typeof value === 'function' && (value as { prototype?: unknown }).prototype instanceof Error)
    .map(([name]) => name)
    .sort();
}

describe('error family', function () {
  it('exports the base class and every error class, each sampled here', function () {
    expect(exportedErrorClasses()).to.deep.equal(Object.keys(SAMPLES).sort());
  });

  for (const [name, make] of Object.entries(SAMPLES)) {
    it(`${name} extends LinkSocksError and has a code in the scheme`, function () {
      const err = make();
      expect(err).to.be.instanceOf(lib.LinkSocksError);
      expect(err).to.be.instanceOf(Error);
      expect(err.name).to.equal(name);
      expect(err.code).to.match(CODE_SCHEME);
      expect(err.message).to.be.a('string').and.not.equal('');
    });
  }

  it('keeps the cause it was given', function () {
    const cause = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const err = new lib.LinkSocksClientError('ERR_LINKSOCKS_CONNECTION', cause.message, true, { cause });
    expect(err.cause).to.equal(cause);
    expect(new lib.DialError('x', { cause }).cause).to.equal(cause);
    expect(new lib.Socks5Error('ERR_SOCKS5_SOCKET', 'x', { cause }).cause).to.equal(cause);
    expect(new lib.StateFileError('ERR_LINKSOCKS_STATE_WRITE', 'f', 'x', cause).cause).to.equal(cause);
    expect('cause' in new lib.LinkSocksError('ERR_LINKSOCKS_TEST', 'no cause')).to.equal(false);
  });

  it('InvalidArgumentError names the option', function () {
    const err = new lib.InvalidArgumentError('maxChannelsPerLink', 'must be an integer ≥ 1, got "10"');
    expect(err.option).to.equal('maxChannelsPerLink');
    expect(err.code).to.equal('ERR_LINKSOCKS_INVALID_ARGUMENT');
    expect(err.message).to.contain('maxChannelsPerLink');
  });
});

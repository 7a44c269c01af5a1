import { expect } from 'chai';
import { CliError } from '../../src/cli/errors.js';
import { applyModeEnv } from '../../src/cli/mode-env.js';
import { checkUpstreamProxy } from '../../src/cli/upstream-proxy.js';
import { envValue, parseGoBool, parseGoDuration, parsePort, type Source } from '../../src/cli/values.js';

const flag: Source = { kind: 'flag', flag: '-P, --ws-port' };
const env: Source = { kind: 'env', name: 'LINKSOCKS_WEBSOCKET_PORT' };

describe('cli values', () => {
  it('parses Go durations into milliseconds', () => {
    expect(parseGoDuration('5s', flag)).to.equal(5000);
    expect(parseGoDuration('500ms', flag)).to.equal(500);
    expect(parseGoDuration('1m30s', flag)).to.equal(90_000);
    expect(parseGoDuration('1.5h', flag)).to.equal(5_400_000);
    expect(parseGoDuration('0', flag)).to.equal(0);
    for (const bad of ['', '5', 's', '5x', '1m30']) {
      expect(() => parseGoDuration(bad, flag), bad).to.throw(CliError);
    }
  });

  it('parses booleans as strconv.ParseBool does', () => {
    for (const t of ['1', 't', 'T', 'TRUE', 'true', 'True']) expect(parseGoBool(t, env)).to.equal(true);
    for (const f of ['0', 'f', 'F', 'FALSE', 'false', 'False']) expect(parseGoBool(f, env)).to.equal(false);
    expect(() => parseGoBool('yes', { kind: 'env', name: 'LINKSOCKS_FASTOPEN' })).to.throw('invalid LINKSOCKS_FASTOPEN: "yes"');
  });

  it('checks ports and names the flag or variable in the error', () => {
    expect(parsePort('0', flag)).to.equal(0);
    expect(parsePort('65535', flag)).to.equal(65535);
    expect(() => parsePort('abc', flag)).to.throw('invalid argument "abc" for "-P, --ws-port" flag');
    expect(() => parsePort('65536', flag)).to.throw(/port must be between 0 and 65535/);
    expect(() => parsePort('12x', env)).to.throw('invalid LINKSOCKS_WEBSOCKET_PORT: "12x"');
    try {
      parsePort('-1', env);
      expect.fail('should throw');
    } catch (err) {
      expect(err).to.be.instanceOf(CliError);
      expect((err as CliError).code).to.equal('ERR_CLI_INVALID_ENV');
    }
  });

  it('treats blank variables as unset and trims the others', () => {
    expect(envValue({ A: '  x  ' }, 'A')).to.equal('x');
    expect(envValue({ A: '   ' }, 'A')).to.equal(undefined);
    expect(envValue({}, 'A')).to.equal(undefined);
  });

  it('validates upstream proxy schemes with Go wording', () => {
    expect(checkUpstreamProxy(undefined)).to.equal(undefined);
    expect(checkUpstreamProxy('socks5://u:p@127.0.0.1:1080')).to.equal('socks5');
    expect(checkUpstreamProxy('http://127.0.0.1')).to.equal('http');
    expect(checkUpstreamProxy('https://127.0.0.1')).to.equal('http');
    expect(() => checkUpstreamProxy('ftp://x')).to.throw('unsupported proxy scheme: ftp (supported: socks5, http)');
    expect(() => checkUpstreamProxy('socks4://x')).to.throw(CliError);
  });

  it('inserts the LINKSOCKS_MODE command only when none is given', () => {
    expect(applyModeEnv([], 'server')).to.deep.equal(['server']);
    expect(applyModeEnv(['-t', 'x'], ' Reverse ')).to.deep.equal(['provider', '-t', 'x']);
    expect(applyModeEnv(['-t', 'x'], 'forward')).to.deep.equal(['client', '-t', 'x']);
    expect(applyModeEnv(['-t', 'x'], 'connector')).to.deep.equal(['connector', '-t', 'x']);
    expect(applyModeEnv(['client', '-t', 'x'], 'server')).to.deep.equal(['client', '-t', 'x']);
    expect(applyModeEnv(['-t', 'x'], 'bogus')).to.deep.equal(['-t', 'x']);
    expect(applyModeEnv([], undefined)).to.deep.equal([]);
  });
});

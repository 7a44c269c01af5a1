// `token add|remove|list` against a real server with an API key, driven in process through a
// commander program that only has the token command registered.
import { expect } from 'chai';
import { Command, CommanderError } from 'commander';
import { registerTokenCommand } from '../../src/cli/token-command.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { freePort } from '../helpers/net.js';

const KEY = 'KEY';

interface RunResult {
  code: number;
  out: string;
  err: string;
}

describe('token command', () => {
  let server: LinkSocksServer;
  let url: string;

  /** Runs `linksocks-ts token …` with the given variables; code 1 when the command failed. */
  const run = async (args: string[], env: Record<string, string> = { LINKSOCKS_API_KEY: KEY }): Promise<RunResult> => {
    let out = '';
    let err = '';
    const program = new Command('linksocks-ts').exitOverride().configureOutput({
      writeOut: (text) => void (out += text),
      writeErr: (text) => void (err += text),
    });
    registerTokenCommand(program, { env, writeOut: (text) => void (out += text), writeErr: (text) => void (err += text) });
    try {
      await program.parseAsync(['token', ...args], { from: 'user' });
      return { code: 0, out, err };
    } catch (error) {
      if (!(error instanceof CommanderError)) throw error;
      return { code: error.exitCode, out, err };
    }
  };

  beforeEach(async () => {
    server = new LinkSocksServer({ host: '127.0.0.1', port: 0, apiKey: KEY });
    await server.start();
    url = `http://127.0.0.1:${server.address().port}`;
  });

  afterEach(() => server.close());

  it('adds tokens of every type and prints a table', async () => {
    const port = await freePort();
    const reverse = await run(['add', '--url', url, '--type', 'reverse', '--token', 'rev', '--port', String(port), '--username', 'u', '--password', 'p']);
    expect(reverse).to.deep.equal({ code: 0, out: `TOKEN  TYPE     PORT\nrev    reverse  ${port}\n`, err: '' });
    expect(server.store.get('rev')).to.include({ kind: 'reverse', port, username: 'u', password: 'p' });

    const connector = await run(['add', '--url', url, '--type', 'connector', '--token', 'con', '--reverse-token', 'rev', '--json']);
    expect(connector).to.deep.equal({ code: 0, out: '{"success":true,"token":"con"}\n', err: '' });

    const forward = await run(['add', '--url', url, '--type', 'forward', '--json']);
    expect(forward.code).to.equal(0);
    const generated = (JSON.parse(forward.out) as { token: string }).token;
    expect(generated).to.match(/^[0-9a-f]{16}$/);

    const autonomy = await run(['add', '--url', url, '--type', 'reverse', '--token', 'auto', '--allow-manage-connector', '--json']);
    expect(JSON.parse(autonomy.out)).to.deep.equal({ success: true, token: 'auto', port: -1 });
    const con = server.store.get('con');
    expect(con?.kind === 'connector' && con.reverseToken).to.equal('rev');
    expect(server.store.get(generated)?.kind).to.equal('forward');
  });

  it('lists tokens as a table and as JSON', async () => {
    server.addReverseToken({ token: 'rev', port: 47011 });
    server.addConnectorToken('c1', 'rev');
    server.addForwardToken('fwd');
    const table = await run(['list', '--url', url]);
    expect(table).to.deep.equal({
      code: 0,
      out: ['TOKEN  TYPE     PORT   CLIENTS  CONNECTORS', 'rev    reverse  47011  0        c1', 'fwd    forward         0', ''].join('\n'),
      err: '',
    });
    const json = await run(['list', '--url', url, '--json']);
    expect(JSON.parse(json.out)).to.have.deep.property('tokens', [
      { token: 'rev', type: 'reverse', clients_count: 0, port: 47011, connector_tokens: ['c1'] },
      { token: 'fwd', type: 'forward', clients_count: 0 },
    ]);
  });

  it('adds a token with --rule (access control), refusing a malformed one before asking the server', async () => {
    const added = await run(['add', '--url', url, '--type', 'forward', '-t', 'ruled', '--rule', '10.0.0.0/8:443', '--rule', '*:22']);
    expect(added.code).to.equal(0);
    expect(server.store.get('ruled')?.rules?.toJSON()).to.deep.equal([{ Addrs: ['10.0.0.0/8'], Ports: [443] }, { Addrs: null, Ports: [22] }]);
    const bad = await run(['add', '--url', url, '--type', 'forward', '-t', 'bad', '--rule', '10.0.0.0/40']);
    expect(bad.code).to.equal(1);
    expect(bad.err).to.contain('invalid --access-rule');
    expect(server.store.get('bad')).to.equal(undefined);
  });

  it('removes a token', async () => {
    server.addForwardToken('a/b');
    expect(await run(['remove', 'a/b', '--url', url])).to.deep.equal({ code: 0, out: 'removed a/b\n', err: '' });
    expect(server.store.has('a/b')).to.equal(false);
  });

  it('fails with the server error text on stderr', async () => {
    server.addForwardToken('dup');
    expect(await run(['add', '--url', url, '--type', 'forward', '--token', 'dup'])).to.deep.equal({ code: 1, out: '', err: 'token already exists\n' });
    expect(await run(['add', '--url', url, '--type', 'connector', '--token', 'c'])).to.deep.equal({
      code: 1,
      out: '',
      err: 'reverse_token is required for connector token\n',
    });
    expect(await run(['remove', '', '--url', url])).to.deep.equal({ code: 1, out: '', err: 'token not specified\n' });
  });

  it('takes URL and key from the environment, flags first', async () => {
    const fromEnv = await run(['list', '--json'], { LINKSOCKS_API_URL: url, LINKSOCKS_API_KEY: KEY });
    expect(fromEnv.code).to.equal(0);
    expect(JSON.parse(fromEnv.out)).to.have.deep.property('tokens', []);

    const wrongKey = await run(['list', '--api-key', 'nope'], { LINKSOCKS_API_URL: url, LINKSOCKS_API_KEY: KEY });
    expect(wrongKey).to.deep.equal({ code: 1, out: '', err: 'invalid API key\n' });
    expect(await run(['list', '--url', url], {})).to.deep.equal({ code: 1, out: '', err: 'invalid API key\n' });
  });

  it('fails clearly when no server answers', async () => {
    const port = await freePort();
    const result = await run(['list', '--url', `http://127.0.0.1:${port}`]);
    expect(result.code).to.equal(1);
    expect(result.err).to.match(new RegExp(`^cannot reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });

  it('refuses bad arguments before calling the server', async () => {
    const badType = await run(['add', '--url', url, '--type', 'sideways']);
    expect(badType.code).to.equal(1);
    expect(badType.err).to.contain("argument 'sideways' is invalid");
    const badPort = await run(['add', '--url', url, '--type', 'reverse', '--port', '70000']);
    expect(badPort.code).to.equal(1);
    expect(badPort.err).to.contain('port must be between 0 and 65535');
    expect(server.store.list()).to.deep.equal([]);
  });
  it('[linksocks-ts] add with policy flags; set changes and clears them; disable and enable', async () => {
    const added = await run(['add', '--url', url, '--type', 'forward', '-t', 'f', '--max-channels', '100', '--rate-limit', '5MB', '--quota', '10GB', '--quota-period', '30d', '--expires-at', '2099-01-01T00:00:00Z']);
    expect(added).to.deep.equal({ code: 0, out: 'TOKEN  TYPE     PORT\nf      forward\n', err: '' });
    expect(server.store.get('f')!.policy).to.deep.equal({
      maxChannels: 100,
      rateLimit: 5_000_000,
      quotaBytes: 10_000_000_000,
      quotaPeriodMs: 30 * 86_400_000,
      expiresAt: Date.UTC(2099, 0, 1),
    });
    const set = await run(['set', 'f', '--url', url, '--max-channels', '5', '--rate-limit', 'none', '--quota', 'none', '--quota-period', 'none']);
    expect(set).to.deep.equal({ code: 0, out: 'f: max_channels=5 expires_at=2099-01-01T00:00:00.000Z\n', err: '' });
    expect(await run(['disable', 'f', '--url', url])).to.deep.equal({ code: 0, out: 'disabled f\n', err: '' });
    expect(server.store.get('f')!.policy).to.deep.equal({ maxChannels: 5, expiresAt: Date.UTC(2099, 0, 1), disabled: true });
    const listed = await run(['list', '--url', url]);
    expect(listed.out).to.equal(
      [
        'TOKEN  TYPE     PORT  CLIENTS  CONNECTORS  CHANNELS  POLICY',
        'f      forward        0                    0         max_channels=5 expires_at=2099-01-01T00:00:00.000Z disabled=true',
        '',
      ].join('\n'),
    );
    const enabled = await run(['enable', 'f', '--url', url, '--json']);
    expect(JSON.parse(enabled.out)).to.deep.equal({ success: true, token: 'f', policy: { max_channels: 5, expires_at: '2099-01-01T00:00:00.000Z' } });
  });

  it('[linksocks-ts] set: the server refusal names the field; unknown token; nothing to change', async () => {
    server.addForwardToken('f');
    expect(await run(['set', 'f', '--url', url, '--rate-limit', 'fast'])).to.deep.equal({
      code: 1,
      out: '',
      err: 'rate_limit: not a size: "fast" (bytes, or a number with KB, MB, GB, TB, KiB, MiB, GiB, TiB)\n',
    });
    expect(await run(['set', 'f', '--url', url, '--expires-at', '2001-01-01T00:00:00Z'])).to.deep.equal({
      code: 1,
      out: '',
      err: 'expires_at: 2001-01-01T00:00:00.000Z is not in the future\n',
    });
    expect(await run(['set', 'nope', '--url', url, '--max-channels', '3'])).to.deep.equal({ code: 1, out: '', err: 'token not found\n' });
    expect(await run(['disable', 'nope', '--url', url])).to.deep.equal({ code: 1, out: '', err: 'token not found\n' });
    const nothing = await run(['set', 'f', '--url', url]);
    expect(nothing.code).to.equal(1);
    expect(nothing.err).to.contain('nothing to change');
    const badCount = await run(['set', 'f', '--url', url, '--max-channels', '-2']);
    expect(badCount.code).to.equal(1);
    expect(badCount.err).to.contain('--max-channels');
    expect(server.store.get('f')!.policy).to.equal(undefined);
  });
});

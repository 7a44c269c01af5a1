import { expect } from 'chai';
import type { RawClientFlags, ClientCommand } from '../../src/cli/parse-client.js';
import type { RawServerFlags } from '../../src/cli/parse-server.js';
import { buildProgram } from '../../src/cli/program.js';

interface Captured {
  server?: RawServerFlags;
  client?: { command: ClientCommand; flags: RawClientFlags };
  out: string;
  err: string;
}

/** Runs the commander program with recording handlers; returns what the handlers received. */
async function run(args: string[]): Promise<Captured & { threw?: { exitCode: number } }> {
  const captured: Captured = { out: '', err: '' };
  const { program } = buildProgram(
    {
      server: async (flags) => {
        captured.server = flags;
        return 0;
      },
      client: async (command, flags) => {
        captured.client = { command, flags };
        return 0;
      },
      version: () => 0,
    },
    { writeOut: (s) => void (captured.out += s), writeErr: (s) => void (captured.err += s) },
  );
  try {
    await program.parseAsync(args, { from: 'user' });
    return captured;
  } catch (err) {
    return { ...captured, threw: err as { exitCode: number } };
  }
}

describe('cli program (commander)', () => {
  it('collects the repeatable access-control flags (-k, --access-rule, --deny-targets)', async () => {
    const r = await run(['server', '-k', 'a', '-k', 'b', '--deny-targets', 'local', '--api-key-file', 'keys.txt']);
    expect(r.server).to.deep.include({ apiKey: ['a', 'b'], denyTargets: ['local'], apiKeyFile: 'keys.txt' });
    const c = await run(['provider', '--access-rule', '10.0.0.0/8', '--access-rule', '*:443', '--deny-targets', 'private']);
    expect(c.client?.flags).to.deep.include({ accessRule: ['10.0.0.0/8', '*:443'], denyTargets: ['private'] });
  });

  it('maps the server short forms (-P vs -p, -H, -dd)', async () => {
    const r = await run(
      ['server', '-H', '127.0.0.1', '-P', '9000', '-t', 'T', '-c', 'C', '-a', '-b', '4096', '-r', '-s', '0.0.0.0',
        '-p', '1080', '-n', 'u', '-w', 'pw', '-i', '-dd', '-k', 'K', '-x', 'socks5://h', '-f'],
    );
    expect(r.server).to.deep.include({
      wsHost: '127.0.0.1',
      wsPort: '9000',
      token: 'T',
      connectorToken: 'C',
      connectorAutonomy: true,
      bufferSize: '4096',
      reverse: true,
      socksHost: '0.0.0.0',
      socksPort: '1080',
      socksUsername: 'u',
      socksPassword: 'pw',
      socksNowait: true,
      debug: 2,
      apiKey: ['K'],
      upstreamProxy: 'socks5://h',
      fastOpen: true,
    });
  });

  it('leaves absent server flags undefined so variables can apply', async () => {
    const r = await run(['server']);
    // `http: true` is commander's default for the negated `--no-http` flag (no variable behind it).
    expect(r.server).to.deep.equal({ debug: 0, http: true });
  });

  it('accepts long forms with = and the extras', async () => {
    const r = await run(['server', '--ws-port=9001', '--token=', '--connector-wait-provider', '2s', '--state-file', 's.json',
      '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--direct-enable', '--direct-rendezvous-port', '1']);
    expect(r.server).to.deep.include({
      wsPort: '9001',
      token: '',
      connectorWaitProvider: '2s',
      stateFile: 's.json',
      tlsCert: 'c.pem',
      tlsKey: 'k.pem',
      directEnable: true,
      directRendezvousPort: '1',
    });
  });

  it('keeps the last of a repeated -t, as pflag does', async () => {
    const r = await run(['server', '-t', 'a', '-t', 'b']);
    expect(r.server?.token).to.equal('b');
  });

  it('collects a repeated -u in order (failover list)', async () => {
    const r = await run(['provider', '-t', 'T', '-u', 'ws://a:1', '--url', 'ws://b:2', '-u', 'ws://c:3']);
    expect(r.client?.flags.url).to.deep.equal(['ws://a:1', 'ws://b:2', 'ws://c:3']);
  });

  it('maps the client short forms', async () => {
    const r = await run(['client', '-t', 'T', '-u', 'ws://h:1', '-r', '-c', 'C', '-s', '0.0.0.0', '-p', '1081', '-n', 'u',
      '-w', 'p', '-i', '-R', '-d', '-T', '3', '-x', 'http://h', '-f', '-E', '--retry-auth']);
    expect(r.client?.command).to.equal('client');
    expect(r.client?.flags).to.deep.include({
      token: 'T',
      url: ['ws://h:1'],
      reverse: true,
      connectorToken: 'C',
      socksHost: '0.0.0.0',
      socksPort: '1081',
      socksUsername: 'u',
      socksPassword: 'p',
      socksNoWait: true,
      reconnect: false,
      debug: 1,
      threads: '3',
      upstreamProxy: 'http://h',
      fastOpen: true,
      envProxy: false,
      retryAuth: true,
    });
  });

  it('routes provider and connector to the client handler and collects --stun-server', async () => {
    const p = await run(['provider', '-t', 'P']);
    expect(p.client?.command).to.equal('provider');
    const c = await run(['connector', '-t', 'C', '--stun-server', 'a:1', '--stun-server', 'b:2', '--direct-mode', 'relay-only']);
    expect(c.client?.command).to.equal('connector');
    expect(c.client?.flags.stunServer).to.deep.equal(['a:1', 'b:2']);
    expect(c.client?.flags.reconnect).to.equal(true);
  });

  it('fails with status 1 on unknown flags, commands and missing values', async () => {
    for (const args of [['server', '--bogus'], ['bogus'], ['client', '-u'], ['server', '-E']]) {
      const r = await run(args);
      expect(r.threw?.exitCode, args.join(' ')).to.equal(1);
      expect(r.err, args.join(' ')).to.match(/error:/);
      expect(r.server ?? r.client).to.equal(undefined);
    }
  });

  it('prints help with status 0', async () => {
    const r = await run(['server', '--help']);
    expect(r.threw?.exitCode).to.equal(0);
    expect(r.out).to.include('--ws-port');
  });
});

import { expect } from 'chai';
import { main } from '../../src/cli/main.js';
import { VERSION } from '../../src/version.js';

/** Runs main in-process with captured output (only for commands that end by themselves). */
async function runMain(args: string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const code = await main(['node', 'linksocks-ts', ...args], {
    env,
    forceExit: false,
    output: { writeOut: (s) => void (out += s), writeErr: (s) => void (err += s) },
  });
  return { code, out, err };
}

describe('cli main (in-process)', () => {
  it('no command: help on stdout, status 0', async () => {
    const r = await runMain([]);
    expect(r.code).to.equal(0);
    expect(r.out).to.include('Usage: linksocks-ts');
    for (const cmd of ['server', 'client', 'provider', 'connector', 'version']) expect(r.out).to.include(cmd);
  });

  it('version prints the package version', async () => {
    const r = await runMain(['version']);
    expect(r.code).to.equal(0);
    expect(r.out).to.equal(`linksocks-ts version ${VERSION} ${process.platform}/${process.arch}\n`);
  });

  for (const flag of ['--version', '-V']) {
    it(`${flag} prints the version alone, status 0, whatever LINKSOCKS_MODE says`, async () => {
      for (const env of [{}, { LINKSOCKS_MODE: 'client' }] as Record<string, string>[]) {
        const r = await runMain([flag], env);
        expect(r.code).to.equal(0);
        expect(r.out).to.equal(`${VERSION}\n`);
        expect(r.err).to.equal('');
      }
    });
  }

  it('--help lists --version', async () => {
    expect((await runMain(['--help'])).out).to.match(/-V, --version\s+Print the version number/);
  });

  it('help and --help exit 0', async () => {
    expect((await runMain(['--help'])).code).to.equal(0);
    expect((await runMain(['help', 'server'])).out).to.include('--ws-port');
  });

  it('bad flag and variable values end with status 1 and a Go-style message', async () => {
    const port = await runMain(['server', '-P', '70000']);
    expect(port.code).to.equal(1);
    expect(port.err).to.match(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d invalid argument "70000" for "-P, --ws-port" flag/);
    const env = await runMain(['client'], { LINKSOCKS_FASTOPEN: 'maybe' });
    expect(env.code).to.equal(1);
    expect(env.err).to.include('invalid LINKSOCKS_FASTOPEN: "maybe"');
    const proxy = await runMain(['provider', '-x', 'ftp://p']);
    expect(proxy.code).to.equal(1);
    expect(proxy.err).to.include('unsupported proxy scheme: ftp (supported: socks5, http)');
  });

  it('unknown commands and flags end with status 1', async () => {
    const cmd = await runMain(['bogus']);
    expect(cmd.code).to.equal(1);
    expect(cmd.err).to.include("unknown command 'bogus'");
    const flag = await runMain(['client', '--bogus']);
    expect(flag.code).to.equal(1);
    expect(flag.err).to.include("unknown option '--bogus'");
  });

  it('LINKSOCKS_MODE inserts the command', async () => {
    const r = await runMain(['--help'], { LINKSOCKS_MODE: 'provider' });
    expect(r.code).to.equal(0);
    expect(r.out).to.include('--no-reconnect');
    expect(r.out).to.include('Usage: linksocks-ts provider');
  });
});

import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('../helpers/cli-entry.ts', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));
const children = new Set<ChildProcess>();

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI from source (node --import tsx) and collects its output. */
function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: root,
    env: { ...process.env, NO_COLOR: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      children.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('linksocks-ts command (spawned)', function () {
  this.timeout(20000);
  // Starting node + tsx dominates the cost, so the processes run side by side.
  let help: Result;
  let serverHelp: Result;
  let clientHelp: Result;
  let version: Result;
  let badPort: Result;

  before(async () => {
    [help, serverHelp, clientHelp, version, badPort] = await Promise.all([
      runCli(['--help']),
      runCli(['server', '--help']),
      runCli(['--help'], { LINKSOCKS_MODE: 'client' }),
      runCli(['version']),
      runCli(['server', '-P', '70000']),
    ]);
  });

  after(() => {
    // Only reached with children left when `before` failed half-way.
    for (const child of children) child.kill('SIGKILL');
    children.clear();
  });

  it('--help lists the commands, exit 0', () => {
    expect(help.code).to.equal(0);
    for (const cmd of ['server', 'client', 'provider', 'connector', 'version']) expect(help.stdout).to.include(cmd);
  });

  it('server --help shows Go flag names and short forms', () => {
    expect(serverHelp.code).to.equal(0);
    for (const flag of ['-H, --ws-host', '-P, --ws-port', '-t, --token', '-c, --connector-token', '-a, --connector-autonomy',
      '-b, --buffer-size', '-r, --reverse', '-s, --socks-host', '-p, --socks-port', '-n, --socks-username',
      '-w, --socks-password', '-i, --socks-nowait', '-d, --debug', '-k, --api-key', '-x, --upstream-proxy',
      '-f, --fast-open', '--connector-wait-provider', '--state-file', '--metrics', '--metrics-listen <host:port>',
      '--log-format <format>', 'LINKSOCKS_LOG_FORMAT', 'LINKSOCKS_METRICS_LISTEN', '--tls-cert', '--tls-key', '--drain-timeout']) {
      expect(serverHelp.stdout, flag).to.include(flag);
    }
  });

  it('client help (command picked by LINKSOCKS_MODE) shows the client flags', () => {
    expect(clientHelp.code).to.equal(0);
    for (const flag of ['-u, --url', '-i, --socks-no-wait', '-R, --no-reconnect', '-T, --threads', '-E, --no-env-proxy',
      '--retry-auth', '--direct-mode', '--ca <file>', '--insecure', '--metrics-listen <host:port>', '--log-format <format>']) {
      expect(clientHelp.stdout, flag).to.include(flag);
    }
  });

  it('version prints the package version, exit 0', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(version.code).to.equal(0);
    expect(version.stdout).to.equal(`linksocks-ts version ${pkg.version} ${process.platform}/${process.arch}\n`);
  });

  it('a bad flag value exits 1 with the message on stderr', () => {
    expect(badPort.code).to.equal(1);
    expect(badPort.stderr).to.include('invalid argument "70000" for "-P, --ws-port" flag');
    expect(badPort.stdout).to.equal('');
  });
});

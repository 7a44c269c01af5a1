// The single executable as users get it: `npm run build:exe`, the file copied alone into an empty
// folder and run with a PATH that holds no `node`, against LinkSocks Go.
import { expect } from 'chai';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { checkNoLeaksAfterSuite } from '../helpers/leaks.js';
import {
  expectAdminPage,
  itRunsAgainstGo,
  REPO_ROOT,
  run,
  startShippedApiServer,
  tempDir,
  type ShippedCommand,
} from './shipped.js';
import { freePort, LOCALHOST } from '../helpers/net.js';
import { VERSION } from '../../src/version.js';

const EXE = process.platform === 'win32' ? 'linksocks-ts.exe' : 'linksocks-ts';
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('single executable, alone in a folder without node on PATH', function () {
  // The build copies and rewrites a ~100 MB Node binary: tens of seconds on a loaded machine.
  this.timeout(300_000);
  const folder = tempDir('exe');
  let cli: ShippedCommand;
  checkNoLeaksAfterSuite();

  before(async function () {
    await run(NPM, ['run', 'build:exe'], { cwd: REPO_ROOT, timeoutMs: 240_000 });
    const exe = path.join(folder.dir, EXE);
    copyFileSync(path.join(REPO_ROOT, 'build', EXE), exe);
    // PATH is the folder itself: nothing but the executable can be found, no node, no npm.
    cli = { label: 'exe', command: exe, env: { PATH: folder.dir, NO_COLOR: '1' } };
  });

  after(() => folder.remove());

  it('is the only file in its folder, and node is not on its PATH', () => {
    expect(readdirSync(folder.dir)).to.deep.equal([EXE]);
    for (const dir of (cli.env.PATH ?? '').split(path.delimiter)) expect(existsSync(path.join(dir, 'node')), dir).to.equal(false);
  });

  it('version: the package version, nothing on stderr (no SEA warning)', async () => {
    const { stdout, stderr } = await run(cli.command, ['version'], { env: cli.env, cwd: folder.dir });
    expect(stdout).to.equal(`linksocks-ts version ${VERSION} ${process.platform}/${process.arch}\n`);
    expect(stderr).to.equal('');
  });

  it('every command answers --help, nothing on stderr', async () => {
    const commands = [[], ['server'], ['client'], ['provider'], ['connector'], ['token'], ['version']];
    const results = await Promise.all(commands.map((c) => run(cli.command, [...c, '--help'], { env: cli.env, cwd: folder.dir })));
    results.forEach(({ stdout, stderr }, i) => {
      const name = commands[i]!.join(' ') || '(none)';
      expect(stdout, name).to.match(/^Usage: linksocks-ts/);
      expect(stderr, name).to.equal('');
    });
  });

  it('token: adds and lists tokens through the API of an executable server, which serves the admin page', async () => {
    const port = await freePort();
    const server = await startShippedApiServer(cli, port);
    const api = ['--url', `http://${LOCALHOST}:${port}`, '-k', 'dist-api-key'];
    await run(cli.command, ['token', 'add', '--type', 'forward', '-t', 'dist-added-token', ...api], { env: cli.env, cwd: folder.dir });
    const { stdout } = await run(cli.command, ['token', 'list', ...api], { env: cli.env, cwd: folder.dir });
    expect(stdout).to.match(/^dist-added-token +forward/m);
    // The page's files are inside the executable (a package reads them from its admin/ folder).
    await expectAdminPage(port);
    expect(server.findLine(/admin page files not found/), 'server warning').to.equal(undefined);
    await server.stop();
  });

  itRunsAgainstGo('executable', () => cli);
});

// The npm package as users get it: `npm pack`, the tarball installed into an empty project, the
// installed `linksocks-ts` command run against LinkSocks Go, and the library imported with its
// types by a strict TypeScript project.
import { expect } from 'chai';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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
import { freePort } from '../helpers/net.js';

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/** The consumer program: starts a server and a client through the public API, then closes both. */
const CONSUMER_SOURCE = `import { LinkSocksClient, LinkSocksServer, VERSION, type LinkSocksServerOptions } from 'linksocks-ts';

const options: LinkSocksServerOptions = { host: '127.0.0.1', port: 0 };
const server = new LinkSocksServer(options);
server.addForwardToken('consumer-token');
// The shipped types are real types, not any: a wrong argument does not compile (never called).
export function wrongArgument(): void {
  // @ts-expect-error a token is a string
  server.addForwardToken(42);
}
await server.start();
const client = new LinkSocksClient({ url: \`ws://127.0.0.1:\${server.address().port}\`, token: 'consumer-token', socksPort: 0 });
await client.start();
const socksPort: number = client.socksAddress()!.port;
await client.close();
await server.close();
console.log(\`consumer ok \${VERSION} \${socksPort > 0}\`);
`;

const CONSUMER_TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    outDir: 'out',
    types: ['node'],
  },
  include: ['index.ts'],
};

describe('npm package as installed from its tarball', function () {
  // Packing builds (prepare) and installing may fetch dependencies: minutes on a loaded machine.
  this.timeout(300_000);
  const project = tempDir('consumer');
  let cli: ShippedCommand;
  let version: string;
  checkNoLeaksAfterSuite();

  before(async function () {
    version = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const packed = await run(NPM, ['pack', '--json', '--pack-destination', project.dir], { cwd: REPO_ROOT, timeoutMs: 240_000 });
    // npm prints the prepare script's output before the JSON.
    const json = packed.stdout.slice(packed.stdout.indexOf('['));
    const [info] = JSON.parse(json) as Array<{ filename: string; files: Array<{ path: string }> }>;
    expect(info, 'npm pack --json output').to.not.equal(undefined);
    const files = info!.files.map((f) => f.path);
    expect(files).to.include.members(['LICENSE', 'README.md', 'package.json', 'admin/index.html', 'bin/linksocks-ts.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/entry.js']);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/')), 'sources or tests in the package').to.deep.equal([]);
    // tsc never deletes outputs, so a dist/ built before a source file was removed or renamed
    // still holds its old output, and npm would ship it.
    const orphans = files.filter((f) => /^dist\/.*\.js$/.test(f) && !existsSync(path.join(REPO_ROOT, f.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts'))));
    expect(orphans, 'dist/ files without a source (remove dist/ and build again)').to.deep.equal([]);

    writeFileSync(path.join(project.dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    // The @types/node the repository is tested with (from the npm cache when it is there).
    const typesNode = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules/@types/node/package.json'), 'utf8')) as { version: string }).version;
    await run(
      NPM,
      ['install', '--no-audit', '--no-fund', '--prefer-offline', path.join(project.dir, info!.filename), `@types/node@${typesNode}`],
      { cwd: project.dir, timeoutMs: 240_000 },
    );
    cli = {
      label: 'installed',
      command: path.join(project.dir, 'node_modules', '.bin', process.platform === 'win32' ? 'linksocks-ts.cmd' : 'linksocks-ts'),
      env: { PATH: process.env.PATH, NO_COLOR: '1' },
    };
  });

  after(() => project.remove());

  it('the installed command prints its version', async () => {
    const { stdout } = await run(cli.command, ['version'], { env: cli.env });
    expect(stdout).to.equal(`linksocks-ts version ${version} ${process.platform}/${process.arch}\n`);
  });

  it('the installed server serves the admin page from the package', async () => {
    const port = await freePort();
    const server = await startShippedApiServer(cli, port);
    await expectAdminPage(port);
    await server.stop();
  });

  itRunsAgainstGo('installed', () => cli);

  it("a strict TypeScript project compiles `import { LinkSocksServer } from 'linksocks-ts'` and runs it", async () => {
    writeFileSync(path.join(project.dir, 'index.ts'), CONSUMER_SOURCE);
    writeFileSync(path.join(project.dir, 'tsconfig.json'), JSON.stringify(CONSUMER_TSCONFIG));
    const tsc = path.join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    await run(process.execPath, [tsc, '-p', project.dir], { cwd: project.dir });
    const { stdout } = await run(process.execPath, [path.join(project.dir, 'out', 'index.js')], { cwd: project.dir, timeoutMs: 30_000 });
    expect(stdout).to.equal(`consumer ok ${version} true\n`);
  });
});

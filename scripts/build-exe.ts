// `npm run build:exe [-- --node <node binary>] [--out <file>]`: the CLI as one executable file
// that needs no Node.js installation and no node_modules, using Node's single executable
// application (SEA) support:
//   1. esbuild bundles src/cli/entry.ts and every dependency into one CommonJS file (an SEA runs
//      one CommonJS script whose require() only reaches Node's built-in modules);
//   2. `node --experimental-sea-config` turns the bundle into a blob, run by the same binary the
//      blob goes into, so the blob's code cache matches that Node version;
//   3. a copy of that Node binary gets the blob injected with postject.
// The result runs on the platform and architecture of the Node binary used; build on each target
// platform (or pass --node with another Node 20+ binary of this platform, e.g. an official build).
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
/** Postject's default marker, which Node's SEA loader looks for (Node's documentation names it). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/**
 * Optional native add-ons that dependencies load inside try/catch and do without (ws: bufferutil,
 * utf-8-validate). An SEA cannot load a .node file, so the bundle gets a module in their place
 * that throws as a missing module does, and ws uses its JavaScript code. (Marking them external
 * would work too, but an SEA's require() prints a warning for every non-built-in module asked for.)
 */
const OPTIONAL_NATIVE = /^(bufferutil|utf-8-validate)$/;

const absentNative: Plugin = {
  name: 'absent-native',
  setup(b) {
    b.onResolve({ filter: OPTIONAL_NATIVE }, (args) => ({ path: args.path, namespace: 'absent-native' }));
    b.onLoad({ filter: /.*/, namespace: 'absent-native' }, (args) => ({
      contents: `const e = new Error(${JSON.stringify(`${args.path} is not part of the single executable`)}); e.code = 'MODULE_NOT_FOUND'; throw e;`,
      loader: 'js',
    }));
  },
};

/**
 * The admin page's files (`admin/`) go into the bundle: src/api/admin-files.ts reads them from the
 * package folder, which an executable does not have, so the bundle gets a module with the same
 * exports that holds their contents.
 */
const embeddedAdmin: Plugin = {
  name: 'embedded-admin',
  setup(b) {
    b.onResolve({ filter: /[\\/]admin-files\.js$/ }, (args) => ({ path: args.path, namespace: 'embedded-admin' }));
    b.onLoad({ filter: /.*/, namespace: 'embedded-admin' }, () => {
      const dir = path.join(root, 'admin');
      const files = readdirSync(dir).map((name) => `  ${JSON.stringify(name)}: ${JSON.stringify(readFileSync(path.join(dir, name)).toString('base64'))},`);
      return {
        contents: [
          `const files = {\n${files.join('\n')}\n};`,
          `export const ADMIN_ASSETS_DIR = 'embedded:admin/';`,
          `export function readAdminFile(dir, name) {`,
          `  if (dir !== ADMIN_ASSETS_DIR || !Object.hasOwn(files, name)) throw new Error(\`\${dir}\${name}: not in the executable\`);`,
          `  return Buffer.from(files[name], 'base64');`,
          `}`,
        ].join('\n'),
        loader: 'js',
      };
    });
  },
};

interface Options {
  node: string;
  out: string;
}

function parseArgs(argv: readonly string[]): Options {
  const exe = process.platform === 'win32' ? 'linksocks-ts.exe' : 'linksocks-ts';
  const options: Options = { node: process.execPath, out: path.join(root, 'build', exe) };
  for (let i = 0; i < argv.length; i += 1) {
    const flag = argv[i];
    const value = argv[i + 1];
    if ((flag === '--node' || flag === '--out') && value !== undefined) {
      options[flag === '--node' ? 'node' : 'out'] = path.resolve(value);
      i += 1;
    } else {
      throw new Error(`usage: build-exe [--node <node binary>] [--out <file>] (got ${String(flag)})`);
    }
  }
  return options;
}

async function bundle(outfile: string): Promise<void> {
  const result = await build({
    entryPoints: [path.join(root, 'src/cli/entry.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    plugins: [absentNative, embeddedAdmin],
    minify: true,
    // Stack traces and error messages that print class names stay readable.
    keepNames: true,
    // The licence comments of the bundled dependencies travel with them.
    legalComments: 'eof',
    logLevel: 'silent',
  });
  // A warning here (e.g. import.meta, which a CommonJS bundle lacks) is a start-up failure later.
  if (result.warnings.length > 0) {
    const text = result.warnings.map((w) => `${w.location?.file ?? ''}:${w.location?.line ?? ''} ${w.text}`).join('\n');
    throw new Error(`esbuild warnings (the bundle would not run as is):\n${text}`);
  }
}

/** Runs a build step quietly; its output becomes part of the error when it fails. */
function run(cmd: string, args: readonly string[]): void {
  const result = spawnSync(cmd, args, { encoding: 'utf8' });
  if (result.status !== 0) {
    const why = result.error?.message ?? `exit ${String(result.status ?? result.signal)}`;
    throw new Error(`${path.basename(cmd)} ${args.join(' ')}: ${why}\n${result.stdout ?? ''}${result.stderr ?? ''}`);
  }
}

function inject(options: Options, blob: string): void {
  const postject = createRequire(import.meta.url).resolve('postject/dist/cli.js');
  mkdirSync(path.dirname(options.out), { recursive: true });
  rmSync(options.out, { force: true });
  copyFileSync(options.node, options.out);
  chmodSync(options.out, 0o755);
  const macos = process.platform === 'darwin';
  // macOS refuses to run a signed binary whose contents changed: unsign, inject, sign ad hoc.
  if (macos) execFileSync('codesign', ['--remove-signature', options.out], { stdio: 'inherit' });
  const args = [postject, options.out, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE];
  if (macos) args.push('--macho-segment-name', 'NODE_SEA');
  // LIEF, inside postject, warns about ELF note sections it cannot name; harmless (Node's
  // documentation shows the same lines), so its output is shown only when it fails.
  run(process.execPath, args);
  if (macos) execFileSync('codesign', ['--sign', '-', options.out], { stdio: 'inherit' });
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(path.join(tmpdir(), 'linksocks-ts-exe-'));
  try {
    const script = path.join(work, 'linksocks-ts.cjs');
    const blob = path.join(work, 'linksocks-ts.blob');
    const config = path.join(work, 'sea-config.json');
    await bundle(script);
    writeFileSync(
      config,
      JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true }),
    );
    run(options.node, ['--experimental-sea-config', config]);
    inject(options, blob);
    const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);
    const shown = path.relative(process.cwd(), options.out);
    process.stdout.write(
      `${shown.startsWith('..') ? options.out : shown}: ${mib(statSync(options.out).size)} MiB ` +
        `(script ${mib(statSync(script).size)} MiB)\n`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`build-exe: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

// Writes src/version.ts from package.json. The version is compiled in rather than read from
// package.json at run time, so the code has no path to package.json to resolve: the single
// executable bundle has none. Run by `npm version` (the "version" script), which stages the result.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { version: string };
const target = fileURLToPath(new URL('src/version.ts', root));
const text = `// Written by scripts/write-version.ts from package.json (\`npm version\` runs it); do not edit.
/** The package version. */
export const VERSION = '${pkg.version}';
`;
writeFileSync(target, text);
process.stdout.write(`src/version.ts: ${pkg.version}\n`);

/** `version` command: the package version in the shape of Go's `linksocks version <v> <os>/<arch>`. */
import { readFileSync } from 'node:fs';

/** Read at run time: src/cli and dist/cli are both two levels below package.json. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

export function versionLine(): string {
  return `linksocks-ts version ${packageVersion()} ${process.platform}/${process.arch}`;
}

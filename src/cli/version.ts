/** `version` command: the package version in the shape of Go's `linksocks version <v> <os>/<arch>`. */
import { VERSION } from '../version.js';

export function versionLine(): string {
  return `linksocks-ts version ${VERSION} ${process.platform}/${process.arch}`;
}

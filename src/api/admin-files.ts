/**
 * Where the admin page's files come from: `admin/` at the package root, read from disk. The
 * single executable has no package folder, so its bundle replaces this module with one that
 * holds the files' contents (scripts/build-exe.ts); nothing else in the code knows the difference.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** `admin/` at the package root: two levels up from both src/api and dist/api. */
export const ADMIN_ASSETS_DIR = fileURLToPath(new URL('../../admin/', import.meta.url));

export function readAdminFile(dir: string, name: string): Buffer {
  return readFileSync(`${dir}${name}`);
}

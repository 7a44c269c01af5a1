// Written by scripts/write-version.ts from package.json (`npm version` runs it); do not edit.
/** The package version. */
export const VERSION = '0.1.0';

// Debian's chromium for browser tests, driven by playwright-core (whose own browser downloads are
// not used). Missing browser: the suite is skipped locally, and fails under CI=true.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** CHROMIUM_PATH, else `chromium` on PATH (Debian's package installs /usr/bin/chromium). */
export function findChromium(): string | undefined {
  const candidates = process.env.CHROMIUM_PATH
    ? [process.env.CHROMIUM_PATH]
    : (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, 'chromium'));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next candidate
    }
  }
  return undefined;
}

/** Launches headless chromium, or skips the calling suite (throws under CI=true). */
export async function launchChromium(context: Mocha.Context): Promise<Browser> {
  const executablePath = findChromium();
  if (!executablePath) {
    if (process.env.CI === 'true') throw new Error('chromium is not installed (apt-get install -y chromium); browser tests cannot run');
    context.skip();
  }
  // The sandbox needs user namespaces that root in a container does not get.
  return chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

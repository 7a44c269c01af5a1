/**
 * [linksocks-ts] The admin page's static files (HTML, CSS, JS written by hand in the package's
 * `admin/` folder), read once, gzip-compressed once, served with a strict Content-Security-Policy:
 * scripts and styles from this origin only, no inline script, no eval, no framing.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import type Koa from 'koa';
import { ADMIN_ASSETS_DIR, readAdminFile } from './admin-files.js';

const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'admin.css': 'text/css; charset=utf-8',
  'admin.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

export const ADMIN_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
  etag: string;
}

const loaded = new Map<string, AdminAssets | Error>();

/**
 * The assets of `dir`, read and compressed once per process; an Error when they cannot be read (a
 * bundle that left the folder out), so the API still starts and only the page is missing.
 */
export function loadAdminAssets(dir: string = ADMIN_ASSETS_DIR): AdminAssets | Error {
  let assets = loaded.get(dir);
  if (assets === undefined) {
    try {
      assets = new AdminAssets(dir);
    } catch (err) {
      assets = err instanceof Error ? err : new Error(String(err));
    }
    loaded.set(dir, assets);
  }
  return assets;
}

export class AdminAssets {
  private readonly assets = new Map<string, Asset>();

  constructor(dir: string = ADMIN_ASSETS_DIR) {
    for (const [name, type] of Object.entries(FILES)) {
      const body = readAdminFile(dir, name);
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`;
      this.assets.set(name, { type, body, gzip: gzipSync(body, { level: 9 }), etag });
    }
  }

  /** Bytes on the wire for the whole page with gzip (for the README's figure and a test). */
  transferSize(): { raw: number; gzip: number } {
    let raw = 0;
    let gzip = 0;
    for (const asset of this.assets.values()) {
      raw += asset.body.length;
      gzip += asset.gzip.length;
    }
    return { raw, gzip };
  }

  /** Answers the request for `name`; unknown names are left unanswered (the API's 404 applies). */
  serve(ctx: Koa.Context, name: string): void {
    const asset = this.assets.get(name);
    if (!asset) return;
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('Allow', 'GET, HEAD');
      ctx.body = '';
      return;
    }
    ctx.set('Content-Security-Policy', ADMIN_CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('ETag', asset.etag);
    ctx.set('Vary', 'Accept-Encoding');
    if (ctx.get('If-None-Match') === asset.etag) {
      ctx.status = 304;
      ctx.body = '';
      return;
    }
    ctx.status = 200;
    ctx.type = asset.type;
    if (/\bgzip\b/.test(ctx.get('Accept-Encoding'))) {
      ctx.set('Content-Encoding', 'gzip');
      ctx.body = asset.gzip;
    } else {
      ctx.body = asset.body;
    }
  }
}

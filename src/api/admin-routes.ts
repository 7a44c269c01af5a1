/**
 * [linksocks-ts] Read-only JSON routes beyond LinkSocks Go's API (`/api/clients`, `/api/tokens`,
 * `/api/stats`, `/api/events`) and the admin page at `/admin`. Same key check as the Go-compatible
 * routes; plain JSON with no Go quirks to reproduce.
 */
import { gzipSync } from 'node:zlib';
import type Koa from 'koa';
import type { Router } from '@koa/router';
import type { AdminAssets } from './admin-assets.js';
import type { ServerMonitor, TokenAdmin } from './types.js';

export interface AdminRoutesOptions {
  admin: TokenAdmin;
  monitor: ServerMonitor | undefined;
  assets: AdminAssets | undefined;
  /** True when the request carries the API key. */
  authorized(ctx: Koa.Context): boolean;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const DEFAULT_EVENTS = 100;

/** Answers below this size are sent as they are: compressing them saves next to nothing. */
const GZIP_MIN_BYTES = 1024;

function sendJson(ctx: Koa.Context, status: number, value: unknown): void {
  ctx.status = status;
  ctx.set('Content-Type', JSON_TYPE);
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Vary', 'Accept-Encoding');
  const body = Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
  // The page polls every 2 s; lists of clients and events compress about tenfold.
  if (body.length >= GZIP_MIN_BYTES && /\bgzip\b/.test(ctx.get('Accept-Encoding'))) {
    ctx.set('Content-Encoding', 'gzip');
    ctx.body = gzipSync(body);
  } else {
    ctx.body = body;
  }
}

/** A non-negative integer query parameter, or undefined when absent or malformed. */
function intParam(ctx: Koa.Context, name: string): number | undefined {
  const raw = ctx.query[name];
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw)) return undefined;
  return Number(raw);
}

export function registerAdminRoutes(router: Router, options: AdminRoutesOptions): void {
  const { admin, monitor } = options;

  const readOnly = (view: (ctx: Koa.Context) => unknown): Koa.Middleware => (ctx) => {
    if (!options.authorized(ctx)) {
      sendJson(ctx, 401, { success: false, error: 'invalid API key' });
      return;
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      sendJson(ctx, 405, { success: false, error: 'method not allowed' });
      return;
    }
    sendJson(ctx, 200, view(ctx));
  };

  router.all('/api/clients', readOnly(() => ({ clients: admin.clients() })));
  router.all('/api/tokens', readOnly(() => ({ tokens: admin.tokenDetails() })));
  if (monitor) {
    router.all('/api/stats', readOnly((ctx) => monitor.stats(intParam(ctx, 'since'))));
    router.all('/api/events', readOnly((ctx) => ({ events: monitor.events(intParam(ctx, 'limit') ?? DEFAULT_EVENTS) })));
  }

  const assets = options.assets;
  if (assets) {
    router.all('/admin', (ctx) => assets.serve(ctx, 'index.html'));
    // Relative, so the page also works behind a proxy that mounts the server under a prefix.
    router.all('/admin/', (ctx) => {
      ctx.status = 301;
      ctx.set('Location', '../admin');
      ctx.body = '';
    });
    router.all('/admin/:file', (ctx) => assets.serve(ctx, String(ctx.params['file'])));
  }
}

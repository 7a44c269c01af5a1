/**
 * [linksocks-ts] Live control of a token's connections: `GET /api/token/{token}/clients` lists
 * them, `DELETE /api/token/{token}/clients/{id}` disconnects one. Registered before the
 * Go-compatible `/api/token/{token}` route so these two method+path pairs are answered here; every
 * other request to those paths reaches the Go-compatible handler as before.
 */
import type Koa from 'koa';
import type { Router } from '@koa/router';
import type { TokenAdmin } from './types.js';

export interface ClientRoutesOptions {
  admin: TokenAdmin;
  /** True when the request carries an API key. */
  authorized(ctx: Koa.Context): boolean;
}

const JSON_TYPE = 'application/json; charset=utf-8';
/** Connection ids are small positive integers; anything else names no client. */
const CLIENT_ID = /^[1-9]\d{0,14}$/;

function sendJson(ctx: Koa.Context, status: number, value: unknown): void {
  ctx.status = status;
  ctx.set('Content-Type', JSON_TYPE);
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.body = `${JSON.stringify(value)}\n`;
}

const failure = (error: string): { success: false; error: string } => ({ success: false, error });

export function registerClientRoutes(router: Router, options: ClientRoutesOptions): void {
  const { admin } = options;
  const tokenClients = admin.tokenClients?.bind(admin);
  const kickClient = admin.kickClient?.bind(admin);
  if (!tokenClients || !kickClient) return;

  router.get('/api/token/:token/clients', (ctx) => {
    if (!options.authorized(ctx)) {
      sendJson(ctx, 401, failure('invalid API key'));
      return;
    }
    const clients = tokenClients(String(ctx.params['token']));
    if (clients === undefined) {
      sendJson(ctx, 404, failure('token not found'));
      return;
    }
    sendJson(ctx, 200, { clients });
  });

  router.delete('/api/token/:token/clients/:id', (ctx) => {
    if (!options.authorized(ctx)) {
      sendJson(ctx, 401, failure('invalid API key'));
      return;
    }
    const token = String(ctx.params['token']);
    const id = String(ctx.params['id']);
    if (tokenClients(token) === undefined) {
      sendJson(ctx, 404, failure('token not found'));
      return;
    }
    if (!CLIENT_ID.test(id) || !kickClient(token, Number(id))) {
      sendJson(ctx, 404, failure('client not found'));
      return;
    }
    sendJson(ctx, 200, { success: true, id: Number(id) });
  });
}

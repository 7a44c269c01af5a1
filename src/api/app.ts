/**
 * The Go-compatible HTTP API (../shared/spec/API.md): `GET /` banner, `/api/token` and
 * `/api/status`, answering with Go's status codes, headers, JSON key order and error texts.
 * Mounted by the server on the WebSocket listener; it only talks to a TokenAdmin.
 */
import { keysEqual } from '../util/secrets.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Koa from 'koa';
import { Router } from '@koa/router';
import { silentLogger, type Logger } from '../log.js';
import { encodeLikeGo } from './go-json.js';
import { BodyTooLargeError, InvalidBodyError, MAX_BODY_BYTES, parsePatchRequest, parseTokenRequest, readBody } from './token-request.js';
import { policyChangeFromJson, policyToJson, type TokenPolicyChange } from '../server/token-policy-input.js';
import { TOKEN_ERROR_TEXT, TokenError } from '../server/token-error.js';
import { isProviderStrategy, strategyError } from '../server/provider-strategy.js';
import type { TokenStatus } from '../server/tokens.js';
import type { ServerMonitor, TokenAdmin } from './types.js';
import { registerAdminRoutes } from './admin-routes.js';
import { loadAdminAssets } from './admin-assets.js';
import { AccessRuleError } from '../access/index.js';
import { isClusterUnavailable } from './unavailable.js';
import type { AccessRuleInput } from '../server/tokens.js';
import { registerAccessRoutes } from './access-routes.js';
import { registerClientRoutes } from './client-routes.js';

export interface ApiHandlerOptions {
  admin: TokenAdmin;
  /** [linksocks-ts] Live figures and recent events for `/api/stats` and `/api/events`. */
  monitor?: ServerMonitor;
  /** Enables `/api/*`; without it (or when empty) those paths are unknown, as in Go. */
  apiKey?: string;
  /** More accepted keys (upstream `APIKeys`): authentication only. Any key, or these alone, enable the API. */
  apiKeys?: readonly string[];
  /** Version for the `GET /` banner; default: admin.status().version. */
  version?: string;
  /** Request bodies larger than this get 413; default 64 KiB. */
  maxBodyBytes?: number;
  logger?: Logger;
}

export type ApiHandler = (req: IncomingMessage, res: ServerResponse) => void;

const JSON_TYPE = 'application/json';
/** What Go's content sniffing yields for the plain-text and JSON bodies it writes untyped. */
const TEXT_TYPE = 'text/plain; charset=utf-8';

const INVALID_API_KEY = 'invalid API key';
const INVALID_BODY = 'invalid request body';
const INVALID_TYPE = 'invalid token type';
const TOKEN_NOT_SPECIFIED = 'token not specified';
const BODY_TOO_LARGE = 'request body too large';
const INTERNAL_ERROR = 'internal error';

/** api.go `TokenResponse`: key order success, token, port, error; empty fields omitted. */
function tokenResponse(fields: { success: boolean; token?: string; port?: number; error?: string }): string {
  return encodeLikeGo({
    success: fields.success,
    ...(fields.token !== undefined && fields.token !== '' && { token: fields.token }),
    ...(fields.port !== undefined && fields.port !== 0 && { port: fields.port }),
    ...(fields.error !== undefined && fields.error !== '' && { error: fields.error }),
  });
}

/** Rebuilds each entry in Go's key order, whatever order the admin used. */
function statusEntry(entry: TokenStatus): Record<string, unknown> {
  return {
    token: entry.token,
    type: entry.type,
    clients_count: entry.clients_count,
    ...(entry.type === 'reverse' && { port: entry.port ?? -1 }),
    ...(entry.connector_tokens !== undefined && entry.connector_tokens.length > 0 && { connector_tokens: entry.connector_tokens }),
    ...(entry.rules !== undefined && { rules: entry.rules }),
    // [linksocks-ts] only on tokens that were given them, so other entries stay as Go writes them
    ...(entry.strategy !== undefined && { strategy: entry.strategy }),
    ...(entry.policy !== undefined && { policy: entry.policy }),
    ...(entry.usage !== undefined && { usage: entry.usage }),
    ...(entry.connector_policies !== undefined && { connector_policies: entry.connector_policies }),
  };
}

/** The `rules` field as sent: the server's parser decides (and names what is wrong). */
function rulesOf(rules: unknown): readonly AccessRuleInput[] | undefined {
  return rules as readonly AccessRuleInput[] | undefined;
}

/**
 * Constant-time (util/secrets.ts) against every key, without stopping at the first match, so
 * timing tells nothing about which key or how many; a missing header never matches.
 */
export function keyMatches(given: string | undefined, expected: readonly string[]): boolean {
  let match = false;
  for (const key of expected) match = keysEqual(given ?? '', key) || match;
  return match && given !== undefined;
}

/** Go answers 400 before routing when the request path has a malformed percent escape. */
function hasBadEscape(path: string): boolean {
  return /%(?![0-9a-fA-F]{2})/.test(path);
}

/**
 * Percent-decoding of a path segment as Go's URL.Path has it. Escapes are validated beforehand;
 * bytes that are not UTF-8 become U+FFFD instead of throwing as decodeURIComponent would.
 */
function percentDecode(text: string): string {
  const bytes = Buffer.from(text.replace(/%([0-9a-fA-F]{2})/g, (_match, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1');
  // Node hands over the request target as latin1, so raw UTF-8 bytes survive this round trip too.
  return bytes.toString('utf8');
}

/** Go's mux cleanPath: path.Clean on a rooted path, keeping one trailing slash. */
function cleanPath(decoded: string): string {
  const rooted = decoded.startsWith('/') ? decoded : `/${decoded}`;
  const segments: string[] = [];
  for (const segment of rooted.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const cleaned = `/${segments.join('/')}`;
  return rooted.endsWith('/') && cleaned !== '/' ? `${cleaned}/` : cleaned;
}

/** Path escaping as Go's URL.EscapedPath writes a Location: sub-delimiters, ':' and '@' stay. */
function escapePath(decoded: string): string {
  return decoded
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/%(?:24|26|2B|2C|3B|3D|3A|40)/g, (escape) => decodeURIComponent(escape)))
    .join('/');
}

/** Go's html.EscapeString, used for the link in a redirect body. */
function escapeHtml(text: string): string {
  const entities: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };
  return text.replace(/[&<>"']/g, (char) => entities[char]!);
}

export function createApiHandler(options: ApiHandlerOptions): ApiHandler {
  const { admin } = options;
  const logger = options.logger ?? silentLogger();
  const keys = [options.apiKey, ...(options.apiKeys ?? [])].filter((key): key is string => key !== undefined && key !== '');
  const apiKey = keys.length > 0 ? keys : undefined;
  const maxBody = options.maxBodyBytes ?? MAX_BODY_BYTES;

  const app = new Koa();
  // Errors are answered and logged below; Koa's default stderr printing would bypass the logger.
  app.silent = true;
  const router = new Router({ strict: true, sensitive: true });

  const send = (ctx: Koa.Context, status: number, contentType: string | undefined, body: string): void => {
    ctx.status = status;
    if (contentType !== undefined) ctx.set('Content-Type', contentType);
    ctx.body = body;
    // Koa types string bodies as text/html or text/plain when no type is set; Go sends none.
    if (contentType === undefined) ctx.remove('Content-Type');
  };

  router.all('/', (ctx) => {
    const version = options.version ?? admin.status().version;
    const banner = apiKey !== undefined
      ? `LinkSocks ${version} is running. API endpoints available at /api/*\n`
      : `LinkSocks ${version} is running but API is not enabled.\n`;
    send(ctx, 200, TEXT_TYPE, banner);
  });

  if (apiKey !== undefined) {
    const tokenHandler = async (ctx: Koa.Context): Promise<void> => {
      // Go sets the type before checking the key, so even the 401 is JSON here.
      ctx.set('Content-Type', JSON_TYPE);
      if (!keyMatches(ctx.get('X-API-Key') || undefined, apiKey)) {
        send(ctx, 401, JSON_TYPE, tokenResponse({ success: false, error: INVALID_API_KEY }));
        return;
      }
      if (ctx.method === 'POST') await addToken(ctx);
      else if (ctx.method === 'DELETE') await removeToken(ctx);
      // [linksocks-ts] PATCH of a named token; a bare /api/token stays Go's 405.
      else if (ctx.method === 'PATCH' && admin.updateToken !== undefined && ctx.path.length > '/api/token/'.length) await updateToken(ctx);
      else send(ctx, 405, JSON_TYPE, '');
    };

    const addToken = async (ctx: Koa.Context): Promise<void> => {
      let request;
      try {
        request = parseTokenRequest(await readBody(ctx.req, maxBody));
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          ctx.set('Connection', 'close');
          send(ctx, 413, JSON_TYPE, tokenResponse({ success: false, error: BODY_TOO_LARGE }));
          return;
        }
        if (err instanceof InvalidBodyError) {
          send(ctx, 400, JSON_TYPE, tokenResponse({ success: false, error: INVALID_BODY }));
          return;
        }
        throw err;
      }
      // [linksocks-ts] `strategy`: reverse tokens only (connector tokens use their reverse token's).
      if (request.strategy !== undefined && (request.type !== 'reverse' || !isProviderStrategy(request.strategy))) {
        const error = request.type === 'reverse' ? strategyError(request.strategy) : 'strategy: only reverse tokens take a strategy';
        send(ctx, 400, JSON_TYPE, tokenResponse({ success: false, error }));
        return;
      }
      // [linksocks-ts] Policy fields: all checked before anything is added.
      let policy: TokenPolicyChange | undefined;
      if (request.policy !== undefined) {
        try {
          policy = policyChangeFromJson(request.policy, 'create');
        } catch (err) {
          if (!(err instanceof TokenError)) throw err;
          send(ctx, 400, JSON_TYPE, tokenResponse({ success: false, error: err.message }));
          return;
        }
      }
      try {
        switch (request.type) {
          case 'forward': {
            const token = await admin.addForwardToken(request.token, rulesOf(request.rules), policy);
            logger.info({ type: 'forward' }, 'Token added via API');
            send(ctx, 200, JSON_TYPE, tokenResponse({ success: true, token }));
            return;
          }
          case 'reverse': {
            const result = await admin.addReverseToken({
              token: request.token,
              port: request.port,
              ...(request.username !== '' && { username: request.username }),
              ...(request.password !== '' && { password: request.password }),
              allowManageConnector: request.allowManageConnector,
              ...(request.rules !== undefined && { rules: rulesOf(request.rules) }),
              ...(isProviderStrategy(request.strategy) && { strategy: request.strategy }),
              ...(policy !== undefined && { policy }),
            });
            logger.info({ type: 'reverse', port: result.port }, 'Token added via API');
            send(ctx, 200, JSON_TYPE, tokenResponse({ success: true, token: result.token, port: result.port }));
            return;
          }
          case 'connector': {
            if (request.reverseToken === '') {
              send(ctx, 200, JSON_TYPE, tokenResponse({ success: false, error: TOKEN_ERROR_TEXT.reverseRequired }));
              return;
            }
            const token = await admin.addConnectorToken(request.token, request.reverseToken, rulesOf(request.rules), policy);
            logger.info({ type: 'connector' }, 'Token added via API');
            send(ctx, 200, JSON_TYPE, tokenResponse({ success: true, token }));
            return;
          }
          default:
            send(ctx, 400, JSON_TYPE, tokenResponse({ success: false, error: INVALID_TYPE }));
        }
      } catch (err) {
        if (isClusterUnavailable(err)) {
          send(ctx, 503, JSON_TYPE, tokenResponse({ success: false, error: err.message }));
          return;
        }
        if (err instanceof AccessRuleError) {
          // Upstream answers 200 here; a malformed request deserves 400 (the body is the same).
          send(ctx, 400, JSON_TYPE, tokenResponse({ success: false, error: err.message }));
          return;
        }
        if (!(err instanceof TokenError)) throw err;
        // A bad policy value is the request's fault (400); the rest are Go's refusals (200).
        send(ctx, err.code === 'ERR_LINKSOCKS_INVALID_POLICY' ? 400 : 200, JSON_TYPE, tokenResponse({ success: false, error: err.message }));
      }
    };

    /**
     * [linksocks-ts] PATCH /api/token/{token}: changes policy fields (and a reverse token's
     * strategy) live. null clears a field; unknown fields, bad values → 400 naming the field;
     * unknown token → 404; nothing is applied unless everything is valid.
     */
    const updateToken = async (ctx: Koa.Context): Promise<void> => {
      const token = percentDecode(ctx.path.slice('/api/token/'.length));
      const fail = (status: number, error: string): void => send(ctx, status, JSON_TYPE, tokenResponse({ success: false, error }));
      let change: TokenPolicyChange;
      try {
        const { fields, unknown } = parsePatchRequest(await readBody(ctx.req, maxBody));
        if (unknown.length > 0) {
          fail(400, `${unknown[0]}: unknown field (known: max_channels, rate_limit, quota_bytes, quota_period, expires_at, disabled, strategy)`);
          return;
        }
        change = policyChangeFromJson(fields, 'patch');
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          ctx.set('Connection', 'close');
          fail(413, BODY_TOO_LARGE);
        } else if (err instanceof InvalidBodyError) fail(400, INVALID_BODY);
        else if (err instanceof TokenError) fail(400, err.message);
        else throw err;
        return;
      }
      let policy;
      try {
        policy = await admin.updateToken!(token, change);
      } catch (err) {
        if (isClusterUnavailable(err)) {
          fail(503, err.message);
          return;
        }
        if (!(err instanceof TokenError)) throw err;
        fail(err.code === 'ERR_LINKSOCKS_TOKEN_UNKNOWN' ? 404 : 400, err.message);
        return;
      }
      logger.info('Token policy changed via API');
      send(ctx, 200, JSON_TYPE, encodeLikeGo({ success: true, token, policy: policy === undefined ? {} : policyToJson(policy) }));
    };

    const removeToken = async (ctx: Koa.Context): Promise<void> => {
      let token = percentDecode(ctx.path.slice('/api/token/'.length));
      if (token === '') {
        try {
          token = parseTokenRequest(await readBody(ctx.req, maxBody)).token;
        } catch (err) {
          if (!(err instanceof InvalidBodyError) && !(err instanceof BodyTooLargeError)) throw err;
          if (err instanceof BodyTooLargeError) ctx.set('Connection', 'close');
          token = '';
        }
        if (token === '') {
          send(ctx, 200, JSON_TYPE, tokenResponse({ success: false, error: TOKEN_NOT_SPECIFIED }));
          return;
        }
      }
      // Go reports success for unknown tokens too (API.md §4.2).
      let existed: boolean;
      try {
        existed = await admin.removeToken(token);
      } catch (err) {
        if (!isClusterUnavailable(err)) throw err;
        send(ctx, 503, JSON_TYPE, tokenResponse({ success: false, error: err.message }));
        return;
      }
      if (existed) logger.info('Token removed via API');
      send(ctx, 200, JSON_TYPE, tokenResponse({ success: true, token }));
    };

    // [linksocks-ts] Before the Go route below, which would take `{token}/clients/{id}` as a token.
    registerClientRoutes(router, { admin, authorized: (ctx) => keyMatches(ctx.get('X-API-Key') || undefined, apiKey) });
    router.all('/api/token', tokenHandler);
    router.all('/api/token/{*rest}', tokenHandler);

    // [linksocks-ts] The admin page at /admin, only with an API key like the rest of /api.
    const assets = loadAdminAssets();
    if (assets instanceof Error) logger.warn({ err: assets.message }, 'admin page files not found, /admin is not served');
    registerAdminRoutes(router, {
      admin,
      monitor: options.monitor,
      assets: assets instanceof Error ? undefined : assets,
      authorized: (ctx) => keyMatches(ctx.get('X-API-Key') || undefined, apiKey),
    });
    registerAccessRoutes(router, { admin, keyMatches: (given) => keyMatches(given, apiKey), send, maxBody });

    router.all('/api/status', (ctx) => {
      // No type is set before the key check here, so Go's 401 body is sniffed as text.
      if (!keyMatches(ctx.get('X-API-Key') || undefined, apiKey)) {
        send(ctx, 401, TEXT_TYPE, tokenResponse({ success: false, error: INVALID_API_KEY }));
        return;
      }
      if (ctx.method !== 'GET') {
        send(ctx, 405, undefined, '');
        return;
      }
      const status = admin.status();
      send(ctx, 200, JSON_TYPE, encodeLikeGo({
        version: status.version,
        tokens: status.tokens.map(statusEntry),
        direct: { enabled: false },
      }));
    });
  }

  app.use(async (ctx, next) => {
    if (hasBadEscape(ctx.path)) {
      ctx.set('Connection', 'close');
      send(ctx, 400, TEXT_TYPE, '400 Bad Request');
      return;
    }
    // Go's ServeMux answers a path with `//`, `.` or `..` segments with a redirect to its clean
    // form, before routing and before any key check.
    const decoded = percentDecode(ctx.path);
    const cleaned = cleanPath(decoded);
    if (cleaned !== decoded) {
      const location = `${escapePath(cleaned)}${ctx.querystring === '' ? '' : `?${ctx.querystring}`}`;
      ctx.set('Location', location);
      if (ctx.method === 'GET' || ctx.method === 'HEAD') {
        send(ctx, 301, 'text/html; charset=utf-8', `<a href="${escapeHtml(location)}">Moved Permanently</a>.\n\n`);
      } else {
        send(ctx, 301, undefined, '');
      }
      return;
    }
    try {
      await next();
    } catch (err) {
      // Never log the path or body: both may carry tokens.
      logger.error({ err: { name: (err as Error).name, code: (err as { code?: unknown }).code, message: (err as Error).message } }, 'API request failed');
      if (!ctx.headerSent) {
        send(ctx, 500, JSON_TYPE, tokenResponse({ success: false, error: INTERNAL_ERROR }));
      }
      return;
    }
    if (ctx.body === undefined || ctx.body === null) {
      ctx.set('X-Content-Type-Options', 'nosniff');
      send(ctx, 404, TEXT_TYPE, '404 page not found\n');
    }
  });
  app.use(router.routes());

  return app.callback();
}

/**
 * `GET`/`PUT /api/config/access` (upstream's server-wide access rules): GET answers
 * `{"entry":[…]|null,"dial":[…]|null}` with Go's capitalised rule keys; PUT takes
 * `{"entry"?:[…],"dial"?:[…]}` (rule keys in any letter case), where an absent side stays and `[]`
 * clears it. A malformed rule is a 400 naming it, and then neither side changes.
 */
import type Koa from 'koa';
import type { Router } from '@koa/router';
import { AccessRuleError } from '../access/index.js';
import { isClusterUnavailable } from './unavailable.js';
import type { AccessRuleInput } from '../server/tokens.js';
import { encodeLikeGo } from './go-json.js';
import { scanFirstValue } from './json-scan.js';
import { BodyTooLargeError, readBody } from './token-request.js';
import type { TokenAdmin } from './types.js';

const JSON_TYPE = 'application/json';

export interface AccessRoutesOptions {
  admin: TokenAdmin;
  keyMatches: (given: string | undefined) => boolean;
  send: (ctx: Koa.Context, status: number, contentType: string | undefined, body: string) => void;
  maxBody: number;
}

type AccessChange = { entry?: readonly AccessRuleInput[] | null; dial?: readonly AccessRuleInput[] | null };

export function registerAccessRoutes(router: Router, options: AccessRoutesOptions): void {
  const { admin, send } = options;
  const failure = (error: string): string => encodeLikeGo({ success: false, error });
  router.all('/api/config/access', async (ctx) => {
    ctx.set('Content-Type', JSON_TYPE);
    if (!options.keyMatches(ctx.get('X-API-Key') || undefined)) {
      send(ctx, 401, JSON_TYPE, failure('invalid API key'));
      return;
    }
    if (!admin.accessRules || !admin.setAccessRules) {
      send(ctx, 404, JSON_TYPE, failure('access control is not available'));
      return;
    }
    if (ctx.method === 'GET') {
      const { entry, dial } = admin.accessRules();
      send(ctx, 200, JSON_TYPE, encodeLikeGo({ entry, dial }));
      return;
    }
    if (ctx.method !== 'PUT') {
      send(ctx, 405, JSON_TYPE, '');
      return;
    }
    let change: AccessChange;
    try {
      change = parseAccessChange(await readBody(ctx.req, options.maxBody));
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        ctx.set('Connection', 'close');
        send(ctx, 413, JSON_TYPE, failure('request body too large'));
        return;
      }
      if (err instanceof SyntaxError || err instanceof TypeError) {
        send(ctx, 400, JSON_TYPE, failure('invalid request body'));
        return;
      }
      throw err;
    }
    try {
      await admin.setAccessRules(change);
    } catch (err) {
      if (isClusterUnavailable(err)) {
        send(ctx, 503, JSON_TYPE, failure(err.message));
        return;
      }
      if (!(err instanceof AccessRuleError)) throw err;
      send(ctx, 400, JSON_TYPE, failure(err.message));
      return;
    }
    send(ctx, 200, JSON_TYPE, encodeLikeGo({ success: true }));
  });
}

/** Keys matched case-insensitively, last one winning, as Go's decoder does; throws SyntaxError/TypeError. */
function parseAccessChange(text: string): AccessChange {
  const parsed: unknown = JSON.parse(scanFirstValue(text).first);
  if (parsed === null) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new TypeError('body is not a JSON object');
  const change: AccessChange = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    const side = key.toLowerCase();
    // JSON null leaves a side as it is (Go's decoder leaves a nil slice): only `[]` clears.
    if ((side === 'entry' || side === 'dial') && value !== null) change[side] = value as readonly AccessRuleInput[];
  }
  return change;
}

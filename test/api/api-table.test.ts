// One table of HTTP API requests and their answers (../shared/spec/API.md §4 and §7), run against our
// real server and, when LINKSOCKS_BIN is set, against the Go server. Where the implementations
// differ on purpose (API.md names what a TS server does instead, or the Go binary is v1.7.15 while
// we follow HEAD) the row says so with a per-implementation override.
import { expect } from 'chai';
import { LinkSocksClient } from '../../src/client/client.js';
import { LinkSocksServer } from '../../src/server/server.js';
import { freePort, waitForPort } from '../helpers/net.js';
import { goBinary, spawnProcess, type TestProcess } from '../helpers/process.js';

const KEY = 'KEY';
const JSON_TYPE = 'application/json';
const TEXT_TYPE = 'text/plain; charset=utf-8';
const NOT_FOUND = '404 page not found\n';

type Impl = 'ts' | 'go';

/** A placeholder in an expected JSON value, for values neither side can predict. */
class Match {
  constructor(
    readonly description: string,
    readonly test: (value: unknown) => boolean,
  ) {}
}

const HEX16 = new Match('16 lower-case hex digits', (v) => typeof v === 'string' && /^[0-9a-f]{16}$/.test(v));
const POOL_PORT = new Match('a port of the pool 1024-10240', (v) => Number.isInteger(v) && (v as number) >= 1024 && (v as number) <= 10240);
const UUID = new Match('a UUID', (v) => typeof v === 'string' && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(v));

interface Expected {
  status: number;
  /** Content-Type header; null when the response has none. */
  type: string | null;
  /** Parsed JSON body, compared deep and in key order; Match objects stand for unpredictable values. */
  json?: unknown;
  /** Exact body text, `<version>` standing for the server's version string. */
  text?: string;
  /** Location header of a redirect. */
  location?: string;
}

type Step =
  | { api: { method: string; path: string; body?: unknown } }
  | { client: { token: string; reverse: boolean } };

interface Row {
  name: string;
  method: string;
  path: string;
  /** X-API-Key header; default KEY, null for none. */
  key?: string | null;
  /** Request body: strings are sent as they are, anything else as JSON. */
  body?: unknown;
  /** Done through the API (with the key) or by connecting our client before the request. */
  setup?: Step[];
  expect: Expected;
  /** Where one implementation answers differently on purpose; the reason is in `why`. */
  differs?: { go?: Partial<Expected>; ts?: Partial<Expected>; why: string };
  /** Sorts status entries within the reverse and forward groups (Go iterates maps at random). */
  sortStatus?: boolean;
}

// The TS server writes HEAD's `direct` key; the Go binary under test is v1.7.15, which has none.
const DIRECT_KEY = 'TS follows Go HEAD (always writes "direct"); the Go binary under test is v1.7.15 (API.md §5)';
const status = (tokens: unknown[]): { ts: Partial<Expected>; go: Partial<Expected>; why: string } => ({
  ts: { json: { version: ANY_VERSION, tokens, direct: { enabled: false } } },
  go: { json: { version: ANY_VERSION, tokens } },
  why: DIRECT_KEY,
});
const ANY_VERSION = new Match('a version string', (v) => typeof v === 'string' && /^v\d+\.\d+\.\d+/.test(v));

const ok = (token: unknown, port?: unknown): Expected => ({
  status: 200,
  type: JSON_TYPE,
  json: port === undefined ? { success: true, token } : { success: true, token, port },
});
const fail = (error: string, code = 200): Expected => ({ status: code, type: JSON_TYPE, json: { success: false, error } });
const ERR = {
  key: 'invalid API key',
  body: 'invalid request body',
  type: 'invalid token type',
  reserved: "'anonymous' is reserved and cannot be used as a token",
  reservedConnector: "'anonymous' is reserved and cannot be used as a connector token",
  exists: 'token already exists',
  connectorExists: 'connector token already exists',
  reverseUnknown: 'reverse token does not exist',
  reverseRequired: 'reverse_token is required for connector token',
  notSpecified: 'token not specified',
} as const;

const add = (body: Record<string, unknown>): Step => ({ api: { method: 'POST', path: '/api/token', body } });
const del = (token: string): Step => ({ api: { method: 'DELETE', path: `/api/token/${encodeURIComponent(token)}` } });
// Reverse ports named explicitly are never bound: listeners open only when a provider joins.
const P1 = 47001;
const P2 = 47002;

const ROWS: Row[] = [
  // ---- GET / and unknown paths (§2) ----
  { name: 'GET / answers the banner', method: 'GET', path: '/', expect: { status: 200, type: TEXT_TYPE, text: 'LinkSocks <version> is running. API endpoints available at /api/*\n' } },
  { name: 'POST / answers the banner too', method: 'POST', path: '/', key: null, expect: { status: 200, type: TEXT_TYPE, text: 'LinkSocks <version> is running. API endpoints available at /api/*\n' } },
  { name: 'an unknown path is 404', method: 'GET', path: '/nope', expect: { status: 404, type: TEXT_TYPE, text: NOT_FOUND } },
  { name: '/api/other is 404', method: 'GET', path: '/api/other', expect: { status: 404, type: TEXT_TYPE, text: NOT_FOUND } },
  { name: '/api/status/ is 404', method: 'GET', path: '/api/status/', expect: { status: 404, type: TEXT_TYPE, text: NOT_FOUND } },

  // ---- authentication (§3) ----
  { name: 'POST /api/token without key is 401 JSON', method: 'POST', path: '/api/token', key: null, body: { type: 'forward' }, expect: fail(ERR.key, 401) },
  { name: 'POST /api/token with a wrong key is 401', method: 'POST', path: '/api/token', key: 'key', body: { type: 'forward' }, expect: fail(ERR.key, 401) },
  { name: 'the key is checked before the method', method: 'GET', path: '/api/token', key: 'wrong', expect: fail(ERR.key, 401) },
  { name: 'DELETE /api/token/t without key is 401', method: 'DELETE', path: '/api/token/t', key: null, expect: fail(ERR.key, 401) },
  { name: 'POST /api/token/ (subtree) with a wrong key is 401', method: 'POST', path: '/api/token/', key: 'KEYX', body: { type: 'forward' }, expect: fail(ERR.key, 401) },
  {
    name: 'GET /api/status without key is 401 with a sniffed text type',
    method: 'GET',
    path: '/api/status',
    key: null,
    expect: { status: 401, type: TEXT_TYPE, json: { success: false, error: ERR.key } },
  },
  {
    name: 'POST /api/status with a wrong key is 401, not 405',
    method: 'POST',
    path: '/api/status',
    key: 'x',
    expect: { status: 401, type: TEXT_TYPE, json: { success: false, error: ERR.key } },
  },

  // ---- POST: created (§4.1) ----
  { name: 'forward with a token', method: 'POST', path: '/api/token', body: { type: 'forward', token: 'fwd-1' }, expect: ok('fwd-1') },
  { name: 'forward with a generated token', method: 'POST', path: '/api/token', body: { type: 'forward' }, expect: ok(HEX16) },
  { name: 'forward with an empty token is generated', method: 'POST', path: '/api/token', body: { type: 'forward', token: '' }, expect: ok(HEX16) },
  { name: 'unknown keys are ignored', method: 'POST', path: '/api/token', body: { type: 'forward', token: 'fwd-x', extra: [1, 2], port: 5 }, expect: ok('fwd-x') },
  { name: 'keys match case-insensitively', method: 'POST', path: '/api/token', body: '{"TYPE":"forward","Token":"fwd-ci"}', expect: ok('fwd-ci') },
  { name: 'the last of duplicate keys wins', method: 'POST', path: '/api/token', body: '{"type":"forward","token":"one","token":"two"}', expect: ok('two') },
  { name: 'data after the first JSON value is ignored', method: 'POST', path: '/api/token', body: '{"type":"forward","token":"fwd-t"} trailing', expect: ok('fwd-t') },
  { name: 'a second JSON value is ignored', method: 'POST', path: '/api/token', body: '{"type":"forward","token":"fwd-2"}{"type":5}', expect: ok('fwd-2') },
  { name: 'the path suffix is ignored for POST', method: 'POST', path: '/api/token/whatever', body: { type: 'forward', token: 'fwd-s' }, expect: ok('fwd-s') },
  { name: 'a null body field leaves the field empty', method: 'POST', path: '/api/token', body: { type: 'forward', token: null }, expect: ok(HEX16) },
  { name: 'reverse with a port', method: 'POST', path: '/api/token', body: { type: 'reverse', token: 'rev-1', port: P1 }, expect: ok('rev-1', P1) },
  { name: 'reverse with a port from the pool', method: 'POST', path: '/api/token', body: { type: 'reverse', token: 'rev-2' }, expect: ok('rev-2', POOL_PORT) },
  {
    name: 'reverse with credentials',
    method: 'POST',
    path: '/api/token',
    body: { type: 'reverse', token: 'rev-c', port: P1, username: 'u', password: 'p' },
    expect: ok('rev-c', P1),
  },
  {
    name: 'autonomy reverse reports port -1 and ignores the port',
    method: 'POST',
    path: '/api/token',
    body: { type: 'reverse', token: 'auto-1', port: P1, allow_manage_connector: true },
    expect: ok('auto-1', -1),
  },
  {
    name: 'connector for a reverse token',
    method: 'POST',
    path: '/api/token',
    setup: [add({ type: 'reverse', token: 'rev-1', port: P1 })],
    body: { type: 'connector', token: 'con-1', reverse_token: 'rev-1' },
    expect: ok('con-1'),
  },
  {
    name: 'connector with a generated token',
    method: 'POST',
    path: '/api/token',
    setup: [add({ type: 'reverse', token: 'rev-1', port: P1 })],
    body: { type: 'connector', reverse_token: 'rev-1' },
    expect: ok(HEX16),
  },
  {
    name: 'connector for an autonomy token',
    method: 'POST',
    path: '/api/token',
    setup: [add({ type: 'reverse', token: 'auto-1', allow_manage_connector: true })],
    body: { type: 'connector', token: 'con-a', reverse_token: 'auto-1' },
    expect: ok('con-a'),
  },
  {
    name: 'JSON escapes as Go writes them (raw text)',
    method: 'POST',
    path: '/api/token',
    body: { type: 'forward', token: 'a<b>&c' },
    expect: { status: 200, type: JSON_TYPE, text: '{"success":true,"token":"a\\u003cb\\u003e\\u0026c"}\n' },
  },

  // ---- POST: refused (§4.1) ----
  { name: 'empty body', method: 'POST', path: '/api/token', body: '', expect: fail(ERR.body, 400) },
  { name: 'body that is not JSON', method: 'POST', path: '/api/token', body: '{type:', expect: fail(ERR.body, 400) },
  { name: 'body that is a JSON array', method: 'POST', path: '/api/token', body: '[]', expect: fail(ERR.body, 400) },
  { name: 'port of the wrong type', method: 'POST', path: '/api/token', body: { type: 'reverse', port: '1' }, expect: fail(ERR.body, 400) },
  { name: 'type of the wrong type', method: 'POST', path: '/api/token', body: { type: 5 }, expect: fail(ERR.body, 400) },
  { name: 'allow_manage_connector of the wrong type', method: 'POST', path: '/api/token', body: { type: 'reverse', allow_manage_connector: 'yes' }, expect: fail(ERR.body, 400) },
  { name: 'port written as 1.0 (Go int takes integer literals only)', method: 'POST', path: '/api/token', body: '{"type":"reverse","token":"r","port":47001.0}', expect: fail(ERR.body, 400) },
  { name: 'port written as 1e3', method: 'POST', path: '/api/token', body: '{"type":"reverse","token":"r","port":1e3}', expect: fail(ERR.body, 400) },
  { name: 'port beyond int64', method: 'POST', path: '/api/token', body: '{"type":"reverse","token":"r","port":9223372036854775808}', expect: fail(ERR.body, 400) },
  { name: 'a body that is a JSON string', method: 'POST', path: '/api/token', body: '"forward"', expect: fail(ERR.body, 400) },
  { name: 'type missing', method: 'POST', path: '/api/token', body: {}, expect: fail(ERR.type, 400) },
  { name: 'body null (every field empty)', method: 'POST', path: '/api/token', body: 'null', expect: fail(ERR.type, 400) },
  { name: 'unknown type', method: 'POST', path: '/api/token', body: { type: 'Forward' }, expect: fail(ERR.type, 400) },
  { name: 'connector without reverse_token is 200', method: 'POST', path: '/api/token', body: { type: 'connector', token: 'c' }, expect: fail(ERR.reverseRequired) },
  { name: 'forward named anonymous', method: 'POST', path: '/api/token', body: { type: 'forward', token: 'anonymous' }, expect: fail(ERR.reserved) },
  { name: 'reverse named anonymous', method: 'POST', path: '/api/token', body: { type: 'reverse', token: 'anonymous' }, expect: fail(ERR.reserved) },
  {
    name: 'connector named anonymous',
    method: 'POST',
    path: '/api/token',
    setup: [add({ type: 'reverse', token: 'rev-1', port: P1 })],
    body: { type: 'connector', token: 'anonymous', reverse_token: 'rev-1' },
    expect: fail(ERR.reservedConnector),
  },
  {
    name: 'forward that exists',
    method: 'POST',
    path: '/api/token',
    setup: [add({ type: 'forward', token: 'dup' })],
    body: { type: 'forward', token: 'dup' },
    expect: fail(ERR.exists),
  },
  {
    name: 'reverse named like a forward token',
    method: 'POST',
    path: '/api/token',
    setup: [add({ type: 'forward', token: 'dup' })],
    body: { type: 'reverse', token: 'dup', port: P1 },
    expect: fail(ERR.exists),
  },
  {
    name: 'forward named like a connector token',
    method: 'POST',
    path: '/api/token',
    setup: [add({ type: 'reverse', token: 'rev-1', port: P1 }), add({ type: 'connector', token: 'con-1', reverse_token: 'rev-1' })],
    body: { type: 'forward', token: 'con-1' },
    expect: fail(ERR.exists),
  },
  {
    name: 'reverse on a port already allocated',
    method: 'POST',
    path: '/api/token',
    setup: [add({ type: 'reverse', token: 'rev-1', port: P2 })],
    body: { type: 'reverse', token: 'rev-2', port: P2 },
    expect: fail(`cannot allocate port: ${P2}`),
  },
  {
    name: 'a removed reverse token gives its port back',
    method: 'POST',
    path: '/api/token',
    setup: [add({ type: 'reverse', token: 'rev-1', port: P2 }), del('rev-1')],
    body: { type: 'reverse', token: 'rev-2', port: P2 },
    expect: ok('rev-2', P2),
  },
  {
    name: 'reverse with an impossible port number',
    method: 'POST',
    path: '/api/token',
    body: { type: 'reverse', token: 'rev-x', port: 70000 },
    expect: fail('cannot allocate port: 70000'),
    differs: { go: ok('rev-x', 70000), why: 'NOT in API.md (reported): TS refuses ports outside 1-65535, Go accepts them and fails later when a provider joins' },
  },
  {
    name: 'reverse with a negative port',
    method: 'POST',
    path: '/api/token',
    body: { type: 'reverse', token: 'rev-n', port: -5 },
    expect: fail('cannot allocate port: -5'),
    differs: { go: ok('rev-n', -5), why: 'NOT in API.md (reported): TS refuses ports outside 1-65535, Go accepts them' },
  },
  { name: 'connector for an unknown reverse token', method: 'POST', path: '/api/token', body: { type: 'connector', token: 'c', reverse_token: 'nope' }, expect: fail(ERR.reverseUnknown) },
  {
    name: 'connector for a forward token',
    method: 'POST',
    path: '/api/token',
    setup: [add({ type: 'forward', token: 'fwd-1' })],
    body: { type: 'connector', token: 'c', reverse_token: 'fwd-1' },
    expect: fail(ERR.reverseUnknown),
  },
  {
    name: 'connector named like a forward token',
    method: 'POST',
    path: '/api/token',
    setup: [add({ type: 'forward', token: 'fwd-1' }), add({ type: 'reverse', token: 'rev-1', port: P1 })],
    body: { type: 'connector', token: 'fwd-1', reverse_token: 'rev-1' },
    expect: fail(ERR.connectorExists),
  },
  {
    name: 'connector that exists for another reverse token',
    method: 'POST',
    path: '/api/token',
    setup: [
      add({ type: 'reverse', token: 'rev-1', port: P1 }),
      add({ type: 'reverse', token: 'rev-2', port: P2 }),
      add({ type: 'connector', token: 'con-1', reverse_token: 'rev-1' }),
    ],
    body: { type: 'connector', token: 'con-1', reverse_token: 'rev-2' },
    expect: fail(ERR.connectorExists),
  },
  {
    name: 'connector re-added for the same reverse token',
    method: 'POST',
    path: '/api/token',
    setup: [add({ type: 'reverse', token: 'rev-1', port: P1 }), add({ type: 'connector', token: 'con-1', reverse_token: 'rev-1' })],
    body: { type: 'connector', token: 'con-1', reverse_token: 'rev-1' },
    expect: ok('con-1'),
    differs: { go: fail(ERR.connectorExists), why: 'idempotent in HEAD, which TS follows; v1.7.15 refuses any existing name (API.md §4.1)' },
  },
  {
    name: 'a body over 64 KiB',
    method: 'POST',
    path: '/api/token',
    body: { type: 'forward', token: 'big', pad: 'x'.repeat(70 * 1024) },
    expect: ok('big'),
    differs: { ts: fail('request body too large', 413), why: 'TS caps request bodies at 64 KiB; Go reads any size' },
  },

  // ---- DELETE (§4.2) ----
  { name: 'DELETE /api/token/t of an existing token', method: 'DELETE', path: '/api/token/fwd-1', setup: [add({ type: 'forward', token: 'fwd-1' })], expect: ok('fwd-1') },
  { name: 'DELETE of an unknown token still succeeds', method: 'DELETE', path: '/api/token/ghost', expect: ok('ghost') },
  { name: 'DELETE percent-decodes the path', method: 'DELETE', path: '/api/token/a%20b%2Fc', setup: [add({ type: 'forward', token: 'a b/c' })], expect: ok('a b/c') },
  { name: 'DELETE /api/token with the token in the body', method: 'DELETE', path: '/api/token', body: { token: 'fwd-1' }, setup: [add({ type: 'forward', token: 'fwd-1' })], expect: ok('fwd-1') },
  { name: 'DELETE /api/token/ with the token in the body', method: 'DELETE', path: '/api/token/', body: { token: 'fwd-1' }, expect: ok('fwd-1') },
  { name: 'DELETE /api/token without a body', method: 'DELETE', path: '/api/token', expect: fail(ERR.notSpecified) },
  { name: 'DELETE /api/token with a bad body', method: 'DELETE', path: '/api/token', body: '{', expect: fail(ERR.notSpecified) },
  { name: 'DELETE /api/token with an empty token', method: 'DELETE', path: '/api/token/', body: { token: '' }, expect: fail(ERR.notSpecified) },

  { name: 'DELETE with a malformed escape is 400 before routing', method: 'DELETE', path: '/api/token/%zz', expect: { status: 400, type: TEXT_TYPE, text: '400 Bad Request' } },

  // ---- Go's ServeMux redirects unclean paths, before routing and the key check ----
  {
    name: 'GET /api//status redirects to the clean path',
    method: 'GET',
    path: '/api//status',
    key: null,
    expect: { status: 301, type: 'text/html; charset=utf-8', location: '/api/status', text: '<a href="/api/status">Moved Permanently</a>.\n\n' },
  },
  { name: 'DELETE /api/token//x redirects without a body', method: 'DELETE', path: '/api/token//x', expect: { status: 301, type: null, location: '/api/token/x', text: '' } },
  // (Dot segments are redirected too, but fetch resolves them before sending, so no row here.)

  // ---- other methods (§4, §5) ----
  { name: 'GET /api/token is 405 with an empty JSON-typed body', method: 'GET', path: '/api/token', expect: { status: 405, type: JSON_TYPE, text: '' } },
  { name: 'PUT /api/token/t is 405', method: 'PUT', path: '/api/token/t', body: '{}', expect: { status: 405, type: JSON_TYPE, text: '' } },
  { name: 'PATCH /api/token is 405', method: 'PATCH', path: '/api/token', body: '{}', expect: { status: 405, type: JSON_TYPE, text: '' } },
  { name: 'POST /api/status is 405 without a type', method: 'POST', path: '/api/status', expect: { status: 405, type: null, text: '' } },
  { name: 'DELETE /api/status is 405', method: 'DELETE', path: '/api/status', expect: { status: 405, type: null, text: '' } },

  // ---- GET /api/status (§5) ----
  { name: 'status of an empty server', method: 'GET', path: '/api/status', expect: { status: 200, type: JSON_TYPE }, differs: status([]) },
  {
    name: 'status lists reverse entries first, connectors inside them',
    method: 'GET',
    path: '/api/status',
    sortStatus: true,
    setup: [
      add({ type: 'forward', token: 'f1' }),
      add({ type: 'reverse', token: 'r1', port: P1 }),
      add({ type: 'forward', token: 'f2' }),
      add({ type: 'connector', token: 'c1', reverse_token: 'r1' }),
      add({ type: 'connector', token: 'c2', reverse_token: 'r1' }),
      add({ type: 'reverse', token: 'r2', allow_manage_connector: true }),
    ],
    expect: { status: 200, type: JSON_TYPE },
    differs: status([
      { token: 'r1', type: 'reverse', clients_count: 0, port: P1, connector_tokens: ['c1', 'c2'] },
      { token: 'r2', type: 'reverse', clients_count: 0, port: -1 },
      { token: 'f1', type: 'forward', clients_count: 0 },
      { token: 'f2', type: 'forward', clients_count: 0 },
    ]),
  },
  {
    name: 'removing a reverse token removes its connector tokens',
    method: 'GET',
    path: '/api/status',
    setup: [add({ type: 'reverse', token: 'r1', port: P1 }), add({ type: 'connector', token: 'c1', reverse_token: 'r1' }), del('r1'), add({ type: 'forward', token: 'c1' })],
    expect: { status: 200, type: JSON_TYPE },
    differs: status([{ token: 'c1', type: 'forward', clients_count: 0 }]),
  },
  {
    name: 'status counts connected clients; Go counts all of them for an idle forward token',
    method: 'GET',
    path: '/api/status',
    sortStatus: true,
    setup: [add({ type: 'forward', token: 'busy' }), add({ type: 'forward', token: 'idle' }), { client: { token: 'busy', reverse: false } }],
    expect: { status: 200, type: JSON_TYPE },
    differs: {
      ts: {
        json: {
          version: ANY_VERSION,
          tokens: [
            { token: 'busy', type: 'forward', clients_count: 1 },
            { token: 'idle', type: 'forward', clients_count: 0 },
          ],
          direct: { enabled: false },
        },
      },
      go: {
        json: {
          version: ANY_VERSION,
          tokens: [
            { token: 'busy', type: 'forward', clients_count: 1 },
            { token: 'idle', type: 'forward', clients_count: 1 },
          ],
        },
      },
      why: 'API.md §5: TS reports 0 for idle forward tokens (Go reports the server total); plus the "direct" key',
    },
  },
  {
    name: 'status of an autonomy token with a provider; Go also lists the internal token',
    method: 'GET',
    path: '/api/status',
    setup: [add({ type: 'reverse', token: 'auto', allow_manage_connector: true }), { client: { token: 'auto', reverse: true } }],
    expect: { status: 200, type: JSON_TYPE },
    differs: {
      // NOT in API.md (reported): TS counts the providers of an autonomy token on the token itself
      // (server.ts countSessions matches the session's own token); Go's count there is always 0.
      ts: { json: { version: ANY_VERSION, tokens: [{ token: 'auto', type: 'reverse', clients_count: 1, port: -1 }], direct: { enabled: false } } },
      go: {
        json: {
          version: ANY_VERSION,
          tokens: new Match('the autonomy entry and one internal-token entry with one client', (v) => {
            if (!Array.isArray(v) || v.length !== 2) return false;
            const sorted = [...(v as Array<Record<string, unknown>>)].sort((a) => (a['token'] === 'auto' ? -1 : 1));
            const [parent, internal] = sorted as [Record<string, unknown>, Record<string, unknown>];
            return (
              JSON.stringify(parent) === JSON.stringify({ token: 'auto', type: 'reverse', clients_count: 0, port: -1 }) &&
              UUID.test(internal['token']) &&
              JSON.stringify({ ...internal, token: 'x' }) === JSON.stringify({ token: 'x', type: 'reverse', clients_count: 1, port: -1 })
            );
          }),
        },
      },
      why: 'API.md §5: TS omits autonomy internal tokens; plus the "direct" key; TS counts the provider on the autonomy token (NOT in API.md, reported)',
    },
  },
];

// ---- the servers under test ------------------------------------------------------------------

interface Target {
  base: string;
  close(): Promise<void>;
}

async function startTs(): Promise<Target> {
  const server = new LinkSocksServer({ host: '127.0.0.1', port: 0, apiKey: KEY });
  await server.start();
  return { base: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}

async function startGo(binary: string): Promise<Target> {
  const port = await freePort();
  const proc: TestProcess = spawnProcess(binary, ['server', '-k', KEY, '-H', '127.0.0.1', '-P', String(port)], {
    env: { ...process.env, NO_COLOR: '1' },
    name: 'linksocks-go',
  });
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitForPort(port, 10_000);
    const banner = await fetch(`${base}/`);
    await banner.text();
    if (banner.status !== 200) throw new Error(`GET / answered ${banner.status}`);
  } catch (err) {
    await proc.stop();
    throw new Error(`Go server did not come up: ${String(err)}\n${proc.output()}`);
  }
  return { base, close: () => proc.stop().then(() => undefined) };
}

// ---- requests and comparison -----------------------------------------------------------------

interface Reply {
  status: number;
  type: string | null;
  location: string | null;
  text: string;
}

async function request(base: string, method: string, path: string, key: string | null, body: unknown): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (key !== null) headers['X-API-Key'] = key;
  // Redirects are rows of their own: never follow them.
  const init: RequestInit = { method, headers, redirect: 'manual' };
  if (body !== undefined) init.body = typeof body === 'string' ? body : JSON.stringify(body);
  const response = await fetch(`${base}${path}`, init);
  return { status: response.status, type: response.headers.get('content-type'), location: response.headers.get('location'), text: await response.text() };
}

/** Mismatches between `actual` and `expected`, object keys compared in order. */
function compareJson(actual: unknown, expected: unknown, at = '$'): string[] {
  if (expected instanceof Match) return expected.test(actual) ? [] : [`${at}: ${JSON.stringify(actual)} is not ${expected.description}`];
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return [`${at}: ${JSON.stringify(actual)} is not an array of ${expected.length}`];
    return expected.flatMap((item, i) => compareJson(actual[i], item, `${at}[${i}]`));
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null || Array.isArray(actual)) return [`${at}: ${JSON.stringify(actual)} is not an object`];
    const actualKeys = Object.keys(actual);
    const expectedKeys = Object.keys(expected);
    if (actualKeys.join(',') !== expectedKeys.join(',')) return [`${at}: keys [${actualKeys.join(',')}] instead of [${expectedKeys.join(',')}]`];
    return expectedKeys.flatMap((k) => compareJson((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${at}.${k}`));
  }
  return actual === expected ? [] : [`${at}: ${JSON.stringify(actual)} instead of ${JSON.stringify(expected)}`];
}

/** Go lists each group (reverse, then forward) in map order; sort within groups by token. */
function sortStatusEntries(body: unknown): unknown {
  const tokens = (body as { tokens?: Array<{ type: string; token: string }> }).tokens;
  if (!Array.isArray(tokens)) return body;
  const firstForward = tokens.findIndex((t) => t.type === 'forward');
  const grouped = firstForward < 0 || tokens.slice(firstForward).every((t) => t.type === 'forward');
  expect(grouped, `reverse entries must come before forward entries: ${JSON.stringify(tokens)}`).to.equal(true);
  const byToken = (a: { token: string }, b: { token: string }): number => a.token.localeCompare(b.token);
  // Go keeps a reverse token's connector tokens in a map too.
  for (const entry of tokens as Array<{ connector_tokens?: string[] }>) entry.connector_tokens?.sort();
  const reverse = tokens.filter((t) => t.type === 'reverse').sort(byToken);
  const forward = tokens.filter((t) => t.type === 'forward').sort(byToken);
  return { ...(body as object), tokens: [...reverse, ...forward] };
}

function expectedFor(row: Row, impl: Impl): Expected {
  return { ...row.expect, ...(row.differs?.[impl] ?? {}) };
}

function defineTable(impl: Impl, start: () => Promise<Target>): void {
  let target: Target | undefined;
  let clients: LinkSocksClient[] = [];

  beforeEach(async () => {
    target = await start();
  });

  afterEach(async () => {
    await Promise.all(clients.map((c) => c.close()));
    clients = [];
    await target?.close();
    target = undefined;
  });

  for (const row of ROWS) {
    const why = row.differs?.[impl] !== undefined ? ` [differs: ${row.differs.why}]` : '';
    it(`${row.name}${why}`, async () => {
      const { base } = target!;
      for (const step of row.setup ?? []) {
        if ('api' in step) {
          const reply = await request(base, step.api.method, step.api.path, KEY, step.api.body);
          expect(reply.status, `setup ${step.api.method} ${step.api.path}: ${reply.text}`).to.equal(200);
          expect(JSON.parse(reply.text), `setup ${step.api.method} ${step.api.path}`).to.have.property('success', true);
        } else {
          const client = new LinkSocksClient({ url: base.replace('http:', 'ws:'), token: step.client.token, reverse: step.client.reverse, socksPort: 0 });
          clients.push(client);
          await client.start();
        }
      }

      const reply = await request(base, row.method, row.path, row.key === undefined ? KEY : row.key, row.body);
      const want = expectedFor(row, impl);
      const context = `${impl} ${row.method} ${row.path} -> ${reply.status} ${JSON.stringify(reply.text.slice(0, 300))}`;
      expect(reply.status, context).to.equal(want.status);
      expect(reply.type, context).to.equal(want.type);
      expect(reply.location, context).to.equal(want.location ?? null);
      if (want.text !== undefined) {
        expect(reply.text.replace(/\bv\d+\.\d+\.\d+\S*? /, '<version> '), context).to.equal(want.text);
      }
      if (want.json !== undefined) {
        // Go's json.Encoder: compact, one trailing newline.
        expect(reply.text.endsWith('}\n') && !reply.text.slice(0, -1).includes('\n'), context).to.equal(true);
        let parsed: unknown = JSON.parse(reply.text);
        if (row.sortStatus) parsed = sortStatusEntries(parsed);
        expect(compareJson(parsed, want.json), context).to.deep.equal([]);
      }
    });
  }
}

describe('HTTP API table (API.md §4, §7)', () => {
  it('every row checks a status, a type and a body', () => {
    for (const row of ROWS) {
      for (const impl of ['ts', 'go'] as const) {
        const want = expectedFor(row, impl);
        expect(want.json !== undefined || want.text !== undefined, `${row.name} (${impl})`).to.equal(true);
      }
    }
  });

  describe('TypeScript server', () => {
    defineTable('ts', startTs);
  });

  describe('Go server (LINKSOCKS_BIN)', function () {
    const binary = goBinary();
    if (binary === undefined) {
      it('is skipped: LINKSOCKS_BIN is not set', function () {
        this.skip();
      });
      return;
    }
    defineTable('go', () => startGo(binary));
  });
});

import { once } from 'node:events';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { createApiHandler } from '../../src/api/app.js';
import type { TokenAdmin } from '../../src/api/types.js';
import { TokenStore } from '../../src/server/token-store.js';
import { storeAdmin } from '../helpers/store-admin.js';

const KEY = 'secret-key';

interface Api {
  base: string;
  store: TokenStore;
  server: Server;
}

async function startApi(options: { apiKey?: string; admin?: TokenAdmin; store?: TokenStore } = {}): Promise<Api> {
  const store = options.store ?? new TokenStore({ portRange: { min: 30000, max: 30009 } });
  const handler = createApiHandler({ admin: options.admin ?? storeAdmin(store), ...(options.apiKey !== undefined && { apiKey: options.apiKey }) });
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, store, server };
}

async function stopApi(api: Api): Promise<void> {
  api.server.closeAllConnections();
  api.server.close();
  await once(api.server, 'close');
}

interface Reply {
  status: number;
  type: string | null;
  text: string;
}

async function call(api: Api, method: string, path: string, body?: string, key: string | null = KEY): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (key !== null) headers['X-API-Key'] = key;
  const response = await fetch(`${api.base}${path}`, { method, headers, ...(body !== undefined && { body }) });
  return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
}

const post = (api: Api, body: unknown): Promise<Reply> =>
  call(api, 'POST', '/api/token', typeof body === 'string' ? body : JSON.stringify(body));

describe('HTTP API', () => {
  describe('without an API key', () => {
    let api: Api;
    before(async () => {
      api = await startApi();
    });
    after(() => stopApi(api));

    it('serves the "not enabled" banner on / for any method', async () => {
      for (const method of ['GET', 'POST']) {
        expect(await call(api, method, '/')).to.deep.equal({
          status: 200,
          type: 'text/plain; charset=utf-8',
          text: 'LinkSocks v1.8.9 is running but API is not enabled.\n',
        });
      }
    });

    it('treats /api paths as unknown', async () => {
      for (const path of ['/api/token', '/api/status', '/nope']) {
        const reply = await call(api, 'GET', path);
        expect(reply).to.deep.equal({ status: 404, type: 'text/plain; charset=utf-8', text: '404 page not found\n' });
      }
      expect((await call(api, 'POST', '/api/token', '{"type":"forward"}')).status).to.equal(404);
      expect(api.store.list()).to.deep.equal([]);
    });
  });

  describe('with an API key', () => {
    let api: Api;
    beforeEach(async () => {
      api = await startApi({ apiKey: KEY });
    });
    afterEach(() => stopApi(api));

    it('serves the "API endpoints available" banner', async () => {
      const reply = await call(api, 'GET', '/', undefined, null);
      expect(reply.text).to.equal('LinkSocks v1.8.9 is running. API endpoints available at /api/*\n');
    });

    it('answers 401 for a missing or wrong key, before looking at the method', async () => {
      const denied = '{"success":false,"error":"invalid API key"}\n';
      for (const key of [null, '', 'secret-ke', 'secret-key2', 'SECRET-KEY']) {
        expect(await call(api, 'POST', '/api/token', '{"type":"forward"}', key)).to.deep.equal({ status: 401, type: 'application/json', text: denied });
        expect(await call(api, 'PUT', '/api/token', undefined, key)).to.deep.equal({ status: 401, type: 'application/json', text: denied });
        expect(await call(api, 'DELETE', '/api/token/x', undefined, key)).to.deep.equal({ status: 401, type: 'application/json', text: denied });
        expect(await call(api, 'GET', '/api/status', undefined, key)).to.deep.equal({ status: 401, type: 'text/plain; charset=utf-8', text: denied });
        expect(await call(api, 'POST', '/api/status', undefined, key)).to.include({ status: 401 });
      }
      expect(api.store.list()).to.deep.equal([]);
    });

    it('adds forward tokens, named or generated', async () => {
      expect(await post(api, { type: 'forward', token: 'fwd' })).to.deep.equal({ status: 200, type: 'application/json', text: '{"success":true,"token":"fwd"}\n' });
      const generated = await post(api, { type: 'forward' });
      expect(generated.text).to.match(/^\{"success":true,"token":"[0-9a-f]{16}"\}\n$/);
      expect(api.store.list()).to.have.length(2);
    });

    it('adds reverse tokens with pool, requested and autonomy ports', async () => {
      const pooled = await post(api, { type: 'reverse', token: 'r1', username: 'u', password: 'p' });
      expect(pooled.text).to.match(/^\{"success":true,"token":"r1","port":300\d{2}\}\n$/);
      expect(api.store.get('r1')).to.include({ username: 'u', password: 'p' });
      expect((await post(api, { type: 'reverse', token: 'r2', port: 9870 })).text).to.equal('{"success":true,"token":"r2","port":9870}\n');
      expect((await post(api, { type: 'reverse', token: 'a', port: 9870, allow_manage_connector: true })).text).to.equal('{"success":true,"token":"a","port":-1}\n');
      expect(await post(api, { type: 'reverse', token: 'r3', port: 9870 })).to.deep.equal({ status: 200, type: 'application/json', text: '{"success":false,"error":"cannot allocate port: 9870"}\n' });
      expect(api.store.has('r3')).to.equal(false);
    });

    it('adds connector tokens and reports their errors with status 200', async () => {
      await post(api, { type: 'reverse', token: 'r' });
      expect((await post(api, { type: 'connector', token: 'c', reverse_token: 'r' })).text).to.equal('{"success":true,"token":"c"}\n');
      expect((await post(api, { type: 'connector', token: 'c', reverse_token: 'r' })).text).to.equal('{"success":true,"token":"c"}\n');
      const cases: Array<[unknown, string]> = [
        [{ type: 'connector', token: 'c2' }, 'reverse_token is required for connector token'],
        [{ type: 'connector', token: 'c2', reverse_token: 'nope' }, 'reverse token does not exist'],
        [{ type: 'connector', token: 'anonymous', reverse_token: 'r' }, "'anonymous' is reserved and cannot be used as a connector token"],
        [{ type: 'connector', token: 'r', reverse_token: 'r' }, 'connector token already exists'],
        [{ type: 'forward', token: 'c' }, 'token already exists'],
        [{ type: 'reverse', token: 'anonymous' }, "'anonymous' is reserved and cannot be used as a token"],
        [{ type: 'forward', token: 'anonymous' }, "'anonymous' is reserved and cannot be used as a token"],
      ];
      for (const [body, error] of cases) {
        expect(await post(api, body)).to.deep.equal({ status: 200, type: 'application/json', text: `{"success":false,"error":${JSON.stringify(error)}}\n` });
      }
      expect(api.store.list().map((record) => record.token)).to.deep.equal(['r', 'c']);
    });

    it('answers 400 for bodies that do not fit, and never half-applies', async () => {
      const invalidBody = '{"success":false,"error":"invalid request body"}\n';
      for (const body of ['', 'not json', '[]', '"forward"', '42', '{"type":"forward"', '{"type":5}', '{"type":"reverse","port":"x"}', '{"type":"reverse","port":1.5}', '{"type":"reverse","allow_manage_connector":"yes"}', '{"type":"forward","token":["a"]}']) {
        expect(await post(api, body), body).to.deep.equal({ status: 400, type: 'application/json', text: invalidBody });
      }
      const invalidType = '{"success":false,"error":"invalid token type"}\n';
      for (const body of ['{}', 'null', '{"type":"Forward"}', '{"type":"admin","token":"x"}', '{"token":"x"}']) {
        expect(await post(api, body), body).to.deep.equal({ status: 400, type: 'application/json', text: invalidType });
      }
      expect(api.store.list()).to.deep.equal([]);
    });

    it('reads request keys case-insensitively and ignores unknown keys and nulls', async () => {
      expect((await post(api, '{"TYPE":"forward","Token":"x","extra":[1],"port":null}')).text).to.equal('{"success":true,"token":"x"}\n');
    });

    it('ignores the path suffix on POST', async () => {
      expect((await call(api, 'POST', '/api/token/whatever', '{"type":"forward","token":"s"}')).text).to.equal('{"success":true,"token":"s"}\n');
    });

    it('answers 413 for a body over 64 KiB', async () => {
      const huge = JSON.stringify({ type: 'forward', token: 'x'.repeat(70 * 1024) });
      const reply = await post(api, huge);
      expect(reply).to.deep.equal({ status: 413, type: 'application/json', text: '{"success":false,"error":"request body too large"}\n' });
      expect(api.store.list()).to.deep.equal([]);
    });

    it('answers 413 for a chunked body over 64 KiB without a length header', async () => {
      const { port } = api.server.address() as AddressInfo;
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/api/token', headers: { 'X-API-Key': KEY } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.write('{"type":"forward","token":"');
        req.end(`${'y'.repeat(80 * 1024)}"}`);
      });
      expect(status).to.equal(413);
      expect(api.store.list()).to.deep.equal([]);
    });

    it('removes tokens by path or body, reporting success even for unknown tokens', async () => {
      await post(api, { type: 'reverse', token: 'r' });
      await post(api, { type: 'connector', token: 'c', reverse_token: 'r' });
      await post(api, { type: 'forward', token: 'a/b c' });
      expect(await call(api, 'DELETE', '/api/token/a%2Fb%20c')).to.deep.equal({ status: 200, type: 'application/json', text: '{"success":true,"token":"a/b c"}\n' });
      expect((await call(api, 'DELETE', '/api/token', '{"token":"r"}')).text).to.equal('{"success":true,"token":"r"}\n');
      expect(api.store.list()).to.deep.equal([], 'the connector went with its reverse token');
      expect((await call(api, 'DELETE', '/api/token/ghost')).text).to.equal('{"success":true,"token":"ghost"}\n');
    });

    it('answers "token not specified" with status 200 for a missing token', async () => {
      const reply = { status: 200, type: 'application/json', text: '{"success":false,"error":"token not specified"}\n' };
      for (const [path, body] of [['/api/token', undefined], ['/api/token/', '{}'], ['/api/token', 'garbage'], ['/api/token', '{"token":7}'], ['/api/token', '{"token":""}']] as const) {
        expect(await call(api, 'DELETE', path, body), `${path} ${body}`).to.deep.equal(reply);
      }
    });

    it('answers 405 with an empty body for other methods', async () => {
      for (const method of ['GET', 'PUT', 'PATCH']) {
        expect(await call(api, method, '/api/token')).to.deep.equal({ status: 405, type: 'application/json', text: '' });
      }
      for (const method of ['POST', 'DELETE', 'PUT']) {
        expect(await call(api, method, '/api/status')).to.deep.equal({ status: 405, type: null, text: '' });
      }
    });

    it('reports status with Go key order, connectors inside reverse entries', async () => {
      expect((await call(api, 'GET', '/api/status')).text).to.equal('{"version":"v1.8.9","tokens":[],"direct":{"enabled":false}}\n');
      await post(api, { type: 'forward', token: 'f' });
      await post(api, { type: 'reverse', token: 'r', port: 9870 });
      await post(api, { type: 'connector', token: 'c', reverse_token: 'r' });
      await post(api, { type: 'reverse', token: 'a', allow_manage_connector: true });
      const reply = await call(api, 'GET', '/api/status');
      expect(reply.status).to.equal(200);
      expect(reply.type).to.equal('application/json');
      expect(reply.text).to.equal(
        '{"version":"v1.8.9","tokens":[' +
          '{"token":"r","type":"reverse","clients_count":0,"port":9870,"connector_tokens":["c"]},' +
          '{"token":"a","type":"reverse","clients_count":0,"port":-1},' +
          '{"token":"f","type":"forward","clients_count":0}' +
          '],"direct":{"enabled":false}}\n',
      );
    });

    it('escapes HTML characters in JSON like Go', async () => {
      expect((await post(api, { type: 'forward', token: '<a&b>' })).text).to.equal('{"success":true,"token":"\\u003ca\\u0026b\\u003e"}\n');
    });

    it('answers 404 for other /api paths and 400 for malformed escapes', async () => {
      for (const path of ['/api/status/', '/api/other', '/api', '/API/token']) {
        expect((await call(api, 'GET', path)).status, path).to.equal(404);
      }
      expect((await call(api, 'DELETE', '/api/token/%zz')).status).to.equal(400);
    });
  });

  it('answers 500 without details when the admin fails unexpectedly', async () => {
    const failing: TokenAdmin = {
      addForwardToken: () => {
        throw new Error('disk on fire');
      },
      addReverseToken: () => ({ token: 'x', port: 1 }),
      addConnectorToken: () => 'x',
      removeToken: () => false,
      status: () => ({ version: 'v1.8.9', tokens: [] }),
      clients: () => [],
      tokenDetails: () => [],
    };
    const api = await startApi({ apiKey: KEY, admin: failing });
    try {
      expect(await post(api, { type: 'forward' })).to.deep.equal({ status: 500, type: 'application/json', text: '{"success":false,"error":"internal error"}\n' });
    } finally {
      await stopApi(api);
    }
  });
});

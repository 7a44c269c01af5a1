// The state file through the server (beyond Go): tokens added through the API survive a restart,
// and a corrupt file stops the server from being built without being touched.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { LinkSocksServer } from '../../src/server/server.js';
import { StateFileError } from '../../src/server/state-file.js';
import { freePort } from '../helpers/net.js';

const KEY = 'KEY';

describe('state file through the server', () => {
  let dir: string;
  let stateFile: string;
  let servers: LinkSocksServer[] = [];

  const startServer = async (): Promise<{ server: LinkSocksServer; base: string }> => {
    const server = new LinkSocksServer({ host: '127.0.0.1', port: 0, apiKey: KEY, stateFile });
    servers.push(server);
    await server.start();
    return { server, base: `http://127.0.0.1:${server.address().port}` };
  };

  const api = async (base: string, method: string, pathName: string, body?: unknown): Promise<unknown> => {
    const response = await fetch(`${base}${pathName}`, {
      method,
      headers: { 'X-API-Key': KEY },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    expect(response.status, `${method} ${pathName}`).to.equal(200);
    return response.json();
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'linksocks-state-'));
    stateFile = path.join(dir, 'tokens.json');
  });

  afterEach(async () => {
    await Promise.all(servers.map((s) => s.close()));
    servers = [];
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps tokens added through the API across a restart', async () => {
    const port = await freePort();
    const first = await startServer();
    await api(first.base, 'POST', '/api/token', { type: 'forward', token: 'fwd-keep' });
    await api(first.base, 'POST', '/api/token', { type: 'reverse', token: 'rev-keep', port, username: 'u', password: 'p' });
    await api(first.base, 'POST', '/api/token', { type: 'connector', token: 'con-keep', reverse_token: 'rev-keep' });
    await api(first.base, 'POST', '/api/token', { type: 'forward', token: 'fwd-drop' });
    await api(first.base, 'DELETE', '/api/token/fwd-drop');
    const before = (await api(first.base, 'GET', '/api/status')) as { tokens: unknown[] };
    await first.server.close();

    const second = await startServer();
    const after = (await api(second.base, 'GET', '/api/status')) as { tokens: unknown[] };
    expect(after.tokens).to.deep.equal(before.tokens);
    expect(after.tokens).to.deep.equal([
      { token: 'rev-keep', type: 'reverse', clients_count: 0, port, connector_tokens: ['con-keep'] },
      { token: 'fwd-keep', type: 'forward', clients_count: 0 },
    ]);
    // The restored reverse token still owns its port: a second token cannot take it.
    expect(await api(second.base, 'POST', '/api/token', { type: 'reverse', token: 'rev-other', port })).to.deep.equal({
      success: false,
      error: `cannot allocate port: ${port}`,
    });
    expect(second.server.store.get('rev-keep')).to.include({ username: 'u', password: 'p' });
  });

  it('refuses a corrupt state file with a clear error and leaves it untouched', () => {
    const corrupt = '{"version":1,"tokens":[{"kind":"forward"';
    writeFileSync(stateFile, corrupt);
    let error: unknown;
    try {
      servers.push(new LinkSocksServer({ host: '127.0.0.1', port: 0, apiKey: KEY, stateFile }));
    } catch (err) {
      error = err;
    }
    expect(error).to.be.instanceOf(StateFileError);
    expect((error as StateFileError).code).to.equal('ERR_LINKSOCKS_STATE_CORRUPT');
    expect((error as StateFileError).message).to.contain(stateFile).and.to.contain('not valid JSON');
    expect(readFileSync(stateFile, 'utf8')).to.equal(corrupt);
  });

  it('refuses a state file whose content is inconsistent, leaving it untouched', () => {
    const inconsistent = `${JSON.stringify({ version: 1, tokens: [{ kind: 'connector', token: 'c', reverseToken: 'missing' }] })}\n`;
    writeFileSync(stateFile, inconsistent);
    expect(() => servers.push(new LinkSocksServer({ host: '127.0.0.1', port: 0, apiKey: KEY, stateFile })))
      .to.throw(StateFileError, /reverse token is not in the file/)
      .with.property('code', 'ERR_LINKSOCKS_STATE_CORRUPT');
    expect(readFileSync(stateFile, 'utf8')).to.equal(inconsistent);
  });
});

import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { StateFileError, readStateFile } from '../../src/server/state-file.js';
import { TokenStore } from '../../src/server/token-store.js';
import type { TokenRecord } from '../../src/server/tokens.js';

/** Every field any kind of record may have, to compare records of all kinds in one table. */
type AnyTokenFields = TokenRecord & {
  port?: number;
  username?: string;
  password?: string;
  reverseToken?: string;
  allowManageConnector?: boolean;
};

describe('TokenStore state file', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'linksocks-state-'));
    file = join(dir, 'tokens.json');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates an empty file with mode 0600 at construction', async () => {
    new TokenStore({ stateFile: file });
    expect(readStateFile(file)).to.deep.equal({ version: 1, tokens: [] });
    if (process.platform !== 'win32') expect((await stat(file)).mode & 0o777).to.equal(0o600);
  });

  it('restores every token, option and port after a restart, and leaves no temporary files', async () => {
    const first = new TokenStore({ stateFile: file, portRange: { min: 31000, max: 31009 } });
    first.addForward('f');
    const pooled = first.addReverse({ token: 'r', username: 'u', password: 'p' }).port!;
    first.addReverse({ token: 'fixed', port: 9870 });
    first.addConnector('c', 'r');
    first.addReverse({ token: 'auto', allowManageConnector: true });
    first.addInternal('auto', 'auto/i');
    first.addConnector('ci', 'auto/i'); // lives and dies with the internal token
    first.addForward('gone');
    first.remove('gone');

    const second = new TokenStore({ stateFile: file, portRange: { min: 31000, max: 31009 } });
    const summary = second.list().map((record) => {
      const { token, kind, port, username, password, reverseToken, allowManageConnector } = record as AnyTokenFields;
      return { token, kind, port, username, password, reverseToken, allowManageConnector };
    });
    expect(summary).to.deep.equal([
      { token: 'f', kind: 'forward', port: undefined, username: undefined, password: undefined, reverseToken: undefined, allowManageConnector: undefined },
      { token: 'r', kind: 'reverse', port: pooled, username: 'u', password: 'p', reverseToken: undefined, allowManageConnector: undefined },
      { token: 'fixed', kind: 'reverse', port: 9870, username: undefined, password: undefined, reverseToken: undefined, allowManageConnector: undefined },
      { token: 'auto', kind: 'reverse', port: -1, username: undefined, password: undefined, reverseToken: undefined, allowManageConnector: true },
      { token: 'c', kind: 'connector', port: undefined, username: undefined, password: undefined, reverseToken: 'r', allowManageConnector: undefined },
    ]);
    expect(second.ports.isAllocated(pooled)).to.equal(true);
    expect(second.ports.isAllocated(9870)).to.equal(true);
    expect(second.getByHash(second.get('f')!.hash)?.token).to.equal('f');
    expect(await readdir(dir)).to.deep.equal(['tokens.json']);
  });

  it('fails on corrupt JSON with a clear error and leaves the file byte-identical', async () => {
    const garbage = Buffer.from('{"version":1,"tokens":[{"kind":"forward","token":"a"},\x00\xff');
    await writeFile(file, garbage);
    let caught: unknown;
    try {
      new TokenStore({ stateFile: file });
    } catch (err) {
      caught = err;
    }
    expect(caught).to.be.instanceOf(StateFileError);
    expect(caught).to.have.property('code', 'ERR_LINKSOCKS_STATE_CORRUPT');
    expect((caught as Error).message).to.include(file).and.include('is not valid JSON');
    expect((await readFile(file)).equals(garbage)).to.equal(true);
  });

  it('rejects well-formed but inconsistent files, untouched', async () => {
    const cases: Array<[unknown, string]> = [
      [[], 'top level is not a JSON object'],
      [{ version: 2, tokens: [] }, 'unsupported version 2'],
      [{ version: 1 }, '"tokens" is not an array'],
      [{ version: 1, tokens: [{ kind: 'admin', token: 'x' }] }, 'tokens[0]: "kind"'],
      [{ version: 1, tokens: [{ kind: 'forward', token: '' }] }, 'tokens[0]: "token"'],
      [{ version: 1, tokens: [{ kind: 'reverse', token: 'r', port: 'x' }] }, 'tokens[0]: "port"'],
      [{ version: 1, tokens: [{ kind: 'forward', token: 'a' }, { kind: 'forward', token: 'a' }] }, 'token listed twice'],
      [{ version: 1, tokens: [{ kind: 'connector', token: 'c', reverseToken: 'r' }] }, 'reverse token is not in the file'],
      [{ version: 1, tokens: [{ kind: 'reverse', token: 'a', port: 5000 }, { kind: 'reverse', token: 'b', port: 5000 }] }, 'port 5000 used by two'],
      [{ version: 1, tokens: [{ kind: 'forward', token: 'anonymous' }] }, 'reserved'],
    ];
    for (const [content, message] of cases) {
      const text = JSON.stringify(content);
      await writeFile(file, text);
      expect(() => new TokenStore({ stateFile: file }), message).to.throw(StateFileError, message);
      expect(await readFile(file, 'utf8')).to.equal(text);
    }
  });

  it('undoes a change that cannot be written and throws a StateFileError', async () => {
    const store = new TokenStore({ stateFile: file, portRange: { min: 32000, max: 32000 } });
    store.addForward('kept');
    const removed: string[] = [];
    store.on('removed', (record) => removed.push(record.token));
    // Without its directory the temporary file cannot be created (works as root too, unlike chmod).
    await rm(dir, { recursive: true });
    expect(() => store.addReverse({ token: 'r' })).to.throw(StateFileError).with.property('code', 'ERR_LINKSOCKS_STATE_WRITE');
    expect(store.has('r')).to.equal(false);
    expect(store.ports.isAllocated(32000)).to.equal(false);
    expect(() => store.remove('kept')).to.throw(StateFileError);
    expect(store.has('kept')).to.equal(true);
    expect(removed).to.deep.equal([], 'no event for an undone change');
    await mkdir(dir);
    store.addForward('next');
    expect(readStateFile(file)?.tokens).to.deep.equal([
      { kind: 'forward', token: 'kept' },
      { kind: 'forward', token: 'next' },
    ]);
  });
  it('[linksocks-ts] update() persists the policy and strategy; a change that cannot be written is undone, without event', async () => {
    const store = new TokenStore({ stateFile: file });
    store.addReverse({ token: 'r', port: 32001 });
    const changed: string[] = [];
    store.on('changed', (record, before) => changed.push(`${JSON.stringify(before.policy)}->${JSON.stringify(record.policy)}`));
    const after = store.update('r', { maxChannels: 5, strategy: 'sticky' });
    expect(after.policy).to.deep.equal({ maxChannels: 5 });
    expect(readStateFile(file)?.tokens).to.deep.equal([{ kind: 'reverse', token: 'r', port: 32001, strategy: 'sticky', policy: { maxChannels: 5 } }]);
    expect(changed).to.deep.equal(['undefined->{"maxChannels":5}']);
    await rm(dir, { recursive: true });
    expect(() => store.update('r', { maxChannels: 9, disabled: true })).to.throw(StateFileError).with.property('code', 'ERR_LINKSOCKS_STATE_WRITE');
    expect(store.get('r')!.policy).to.deep.equal({ maxChannels: 5 });
    expect(store.getByHash(store.get('r')!.hash)!.policy).to.deep.equal({ maxChannels: 5 });
    expect(changed).to.have.length(1, 'no event for an undone change');
    await mkdir(dir);
    // A reloaded store has what was acknowledged.
    store.update('r', { maxChannels: null, disabled: true });
    expect(new TokenStore({ stateFile: file }).get('r')).to.deep.include({ policy: { disabled: true }, strategy: 'sticky', port: 32001 });
  });

  it('[linksocks-ts] a malformed stored policy stops start-up with the entry named', async () => {
    await writeFile(file, JSON.stringify({ version: 1, tokens: [{ kind: 'forward', token: 'f', policy: { maxChannels: -1 } }] }));
    expect(() => new TokenStore({ stateFile: file })).to.throw(StateFileError, 'tokens[0]: "policy.maxChannels" is not a positive integer');
  });
});

import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { TokenError } from '../../src/server/token-error.js';
import { TokenStore, type TokenRecord } from '../../src/server/token-store.js';

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function recordEvents(store: TokenStore): { added: string[]; removed: string[] } {
  const seen = { added: [] as string[], removed: [] as string[] };
  store.on('added', (record: TokenRecord) => seen.added.push(record.token));
  store.on('removed', (record: TokenRecord) => seen.removed.push(record.token));
  return seen;
}

describe('TokenStore', () => {
  it('adds forward tokens, generating 16 hex digits when none is given', () => {
    const store = new TokenStore();
    const generated = store.addForward();
    expect(generated.token).to.match(/^[0-9a-f]{16}$/);
    expect(store.addForward('').token).to.match(/^[0-9a-f]{16}$/);
    const named = store.addForward('fwd');
    expect(named).to.include({ token: 'fwd', kind: 'forward', hash: sha256('fwd') });
    expect(store.get('fwd')).to.equal(named);
    expect(store.getByHash(sha256('fwd'))).to.equal(named);
    expect(store.getByHash(sha256('fwd').toUpperCase())).to.equal(undefined);
  });

  it('refuses anonymous and duplicate names with Go texts, across kinds', () => {
    const store = new TokenStore({ portRange: { min: 20000, max: 20010 } });
    store.addForward('f');
    store.addReverse({ token: 'r' });
    store.addConnector('c', 'r');
    expect(() => store.addForward('anonymous'))
      .to.throw(TokenError, "'anonymous' is reserved and cannot be used as a token")
      .with.property('code', 'ERR_LINKSOCKS_TOKEN_RESERVED');
    expect(() => store.addReverse({ token: 'anonymous' })).to.throw(TokenError, "'anonymous' is reserved and cannot be used as a token");
    expect(() => store.addConnector('anonymous', 'r')).to.throw(TokenError, "'anonymous' is reserved and cannot be used as a connector token");
    for (const name of ['f', 'r', 'c']) {
      expect(() => store.addForward(name)).to.throw(TokenError, 'token already exists').with.property('code', 'ERR_LINKSOCKS_TOKEN_EXISTS');
      expect(() => store.addReverse({ token: name })).to.throw(TokenError, 'token already exists');
    }
    expect(() => store.addConnector('f', 'r')).to.throw(TokenError, 'connector token already exists').with.property('code', 'ERR_LINKSOCKS_CONNECTOR_EXISTS');
    expect(store.ports.available).to.equal(10, 'the failed reverse adds took no port');
  });

  it('gives reverse tokens a pool port or the requested one, and autonomy tokens port -1', () => {
    const store = new TokenStore({ portRange: { min: 21000, max: 21000 } });
    expect(store.addReverse({ token: 'a' }).port).to.equal(21000);
    expect(() => store.addReverse({ token: 'b' })).to.throw(TokenError, 'cannot allocate port: 0');
    expect(store.addReverse({ token: 'b', port: 9870, username: 'u', password: 'p' })).to.include({ port: 9870, username: 'u', password: 'p' });
    expect(() => store.addReverse({ token: 'c', port: 9870 })).to.throw(TokenError, 'cannot allocate port: 9870');
    const autonomy = store.addReverse({ token: 'auto', port: 9870, allowManageConnector: true });
    expect(autonomy).to.include({ port: -1, allowManageConnector: true });
    expect(store.has('c')).to.equal(false);
  });

  it('maps connector tokens to reverse tokens only, idempotently for the same mapping', () => {
    const store = new TokenStore({ portRange: { min: 22000, max: 22010 } });
    store.addReverse({ token: 'r1' });
    store.addReverse({ token: 'r2' });
    store.addForward('f');
    const events = recordEvents(store);
    expect(() => store.addConnector('c', 'missing')).to.throw(TokenError, 'reverse token does not exist').with.property('code', 'ERR_LINKSOCKS_REVERSE_TOKEN_UNKNOWN');
    expect(() => store.addConnector('c', 'f')).to.throw(TokenError, 'reverse token does not exist');
    const first = store.addConnector('c', 'r1');
    expect(store.addConnector('c', 'r1')).to.equal(first);
    expect(() => store.addConnector('c', 'r2')).to.throw(TokenError, 'connector token already exists');
    const generated = store.addConnector(undefined, 'r1');
    expect(generated.token).to.match(/^[0-9a-f]{16}$/);
    expect(store.connectorsOf('r1')).to.deep.equal(['c', generated.token]);
    expect(events.added).to.deep.equal(['c', generated.token], 'an idempotent re-add emits nothing');
  });

  it('removes a reverse token with its connectors and internal tokens and frees its port', () => {
    const store = new TokenStore({ portRange: { min: 23000, max: 23000 } });
    store.addReverse({ token: 'r' });
    store.addConnector('c1', 'r');
    store.addReverse({ token: 'auto', allowManageConnector: true, username: 'u', password: 'p' });
    const internal = store.addInternal('auto', 'auto/instance-1');
    expect(internal).to.include({ kind: 'reverse', port: -1, internal: true, parentToken: 'auto', username: 'u', allowManageConnector: true });
    expect(store.addInternal('auto', 'auto/instance-1')).to.equal(internal);
    expect(store.getByHash(sha256('auto/instance-1'))).to.equal(undefined, 'internal tokens cannot authenticate by hash');
    store.addConnector('c2', 'auto/instance-1');
    const events = recordEvents(store);

    expect(store.remove('r').map((record) => record.token)).to.deep.equal(['c1', 'r']);
    expect(store.ports.isAllocated(23000)).to.equal(false);
    expect(store.remove('auto').map((record) => record.token)).to.deep.equal(['c2', 'auto/instance-1', 'auto']);
    expect(events.removed).to.deep.equal(['c1', 'r', 'c2', 'auto/instance-1', 'auto']);
    expect(store.list()).to.deep.equal([]);
    expect(store.getByHash(sha256('r'))).to.equal(undefined);
    expect(store.remove('r')).to.deep.equal([]);
  });

  it('removes forward and connector tokens alone', () => {
    const store = new TokenStore({ portRange: { min: 24000, max: 24010 } });
    store.addForward('f');
    store.addReverse({ token: 'r' });
    store.addConnector('c', 'r');
    expect(store.remove('c').map((record) => record.kind)).to.deep.equal(['connector']);
    expect(store.remove('f').map((record) => record.kind)).to.deep.equal(['forward']);
    expect(store.list().map((record) => record.token)).to.deep.equal(['r']);
    expect(store.connectorsOf('r')).to.deep.equal([]);
  });

  it('builds status entries: reverse first, connectors inside, internal tokens optional', () => {
    const store = new TokenStore({ portRange: { min: 25000, max: 25000 } });
    store.addForward('f');
    store.addReverse({ token: 'r' });
    store.addConnector('c', 'r');
    store.addReverse({ token: 'auto', allowManageConnector: true });
    store.addInternal('auto', 'i1');
    const counts: Record<string, number> = { f: 2, r: 1 };
    expect(store.statusEntries((token) => counts[token] ?? 0)).to.deep.equal([
      { token: 'r', type: 'reverse', clients_count: 1, port: 25000, connector_tokens: ['c'] },
      { token: 'auto', type: 'reverse', clients_count: 0, port: -1 },
      { token: 'f', type: 'forward', clients_count: 2 },
    ]);
    expect(store.statusEntries(() => 0, { includeInternal: true }).map((entry) => entry.token)).to.deep.equal(['r', 'auto', 'i1', 'f']);
  });

  it('refuses internal tokens for unknown parents and name clashes', () => {
    const store = new TokenStore();
    store.addForward('f');
    store.addReverse({ token: 'auto', allowManageConnector: true });
    expect(() => store.addInternal('nope', 'x')).to.throw(TokenError, 'reverse token does not exist');
    expect(() => store.addInternal('auto', 'f')).to.throw(TokenError, 'token already exists');
    expect(store.has('x')).to.equal(false);
  });
});

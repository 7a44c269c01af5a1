// The cluster's token records as Redis holds them: sealing (AES-256-GCM under an HKDF key of the
// cluster secret, bound to the record), the record form and its checks, and the store's `put`
// that applies them to the local view.
import { expect } from 'chai';
import { AccessRules } from '../../src/access/index.js';
import { RecordError, decodeRecord, encodeRecord } from '../../src/cluster/token-record.js';
import { TokenSeal } from '../../src/cluster/token-seal.js';
import { PortPool } from '../../src/server/port-pool.js';
import { TokenStore, makeTokenRecord } from '../../src/server/token-store.js';
import type { ConnectorTokenRecord, ForwardTokenRecord, InternalTokenRecord, PlainReverseTokenRecord, TokenRecord } from '../../src/server/tokens.js';
import { sha256Hex } from '../../src/util/secrets.js';

describe('cluster token records', () => {
  const seal = new TokenSeal('secret-1');
  const names = new Map<string, string>();
  const nameOf = (hash: string): string | undefined => names.get(hash);
  const roundTrip = (record: TokenRecord): TokenRecord => decodeRecord(record.hash, JSON.stringify(encodeRecord(record, seal)), seal, nameOf);

  it('seals values bound to their record and opens them only with the same secret', () => {
    const sealed = seal.seal('tok', 'h1');
    expect(sealed).to.not.include('tok');
    expect(seal.open(sealed, 'h1')).to.equal('tok');
    expect(seal.open(sealed, 'h2')).to.equal(undefined);
    expect(new TokenSeal('secret-2').open(sealed, 'h1')).to.equal(undefined);
    expect(seal.open('bm90IHNlYWxlZA==', 'h1')).to.equal(undefined);
    expect(seal.seal('tok', 'h1')).to.not.equal(sealed); // a fresh IV each time
  });

  it('round-trips every kind with its settings; the token and password only sealed', () => {
    const reverse = makeTokenRecord<PlainReverseTokenRecord>({
      token: 'rev',
      kind: 'reverse',
      port: 2000,
      username: 'u',
      password: 'secret-password',
      strategy: 'sticky',
      rules: AccessRules.parse([{ action: 'deny', host: '10.0.0.0/8' }], 'rules'),
      policy: { maxChannels: 4, disabled: true },
    });
    const autonomy = makeTokenRecord<PlainReverseTokenRecord>({ token: 'auto', kind: 'reverse', port: -1, allowManageConnector: true });
    const internal = makeTokenRecord<InternalTokenRecord>({ token: 'auto/i1', kind: 'reverse', port: -1, allowManageConnector: true, internal: true, parentToken: 'auto' });
    const connector = makeTokenRecord<ConnectorTokenRecord>({ token: 'con', kind: 'connector', reverseToken: 'auto/i1' });
    const forward = makeTokenRecord<ForwardTokenRecord>({ token: 'fwd', kind: 'forward', policy: { rateLimit: 100 } });
    for (const record of [reverse, autonomy, internal, connector, forward]) {
      names.set(record.hash, record.token);
      const stored = JSON.stringify(encodeRecord(record, seal));
      expect(stored).to.not.include(`"${record.token}"`).and.not.include('secret-password');
      const back = roundTrip(record);
      expect({ ...back, rules: back.rules?.toJSON() }).to.deep.equal({ ...record, rules: record.rules?.toJSON() });
    }
    expect(encodeRecord(connector, seal).target).to.equal(sha256Hex('auto/i1'));
  });

  it('refuses malformed, foreign and newer records with a reason', () => {
    const hash = sha256Hex('x');
    const refuse = (raw: string, reason: RegExp, key = hash): void => {
      expect(() => decodeRecord(key, raw, seal, nameOf)).to.throw(RecordError, reason);
    };
    refuse('{', /not JSON/);
    refuse('[]', /not a JSON object/);
    refuse(JSON.stringify({ version: 2, kind: 'forward', token: 'x' }), /unsupported version 2/);
    refuse(JSON.stringify({ version: 1, kind: 'forward', token: 'x' }), /cannot be opened/);
    refuse(JSON.stringify({ version: 1, kind: 'forward', token: seal.seal('y', hash) }), /does not match its key/);
    refuse(JSON.stringify({ version: 1, kind: 'odd', token: seal.seal('x', hash) }), /unknown kind/);
    refuse(JSON.stringify({ version: 1, kind: 'reverse', token: seal.seal('x', hash), port: 0 }), /port/);
    refuse(JSON.stringify({ version: 1, kind: 'connector', token: seal.seal('x', hash), target: 'ab' }), /reverse token is unknown/);
    refuse(JSON.stringify({ version: 1, kind: 'forward', token: seal.seal('x', hash), policy: { maxChannels: 'many' } }), /policy.maxChannels/);
    refuse(JSON.stringify({ version: 1, kind: 'forward', token: seal.seal('x', hash), rules: 'all' }), /must be a list/);
  });

  it('TokenStore.put adds, replaces settings in place (clients stay) and re-adds on a new port', () => {
    const store = new TokenStore();
    const events: string[] = [];
    store.on('added', (r) => events.push(`+${r.token}`));
    store.on('removed', (r) => events.push(`-${r.token}`));
    const first = makeTokenRecord<PlainReverseTokenRecord>({ token: 'r', kind: 'reverse', port: 3000 });
    expect(store.put(first)).to.equal('added');
    expect(store.put(makeTokenRecord<PlainReverseTokenRecord>({ token: 'r', kind: 'reverse', port: 3000 }))).to.equal('unchanged');
    expect(store.put(makeTokenRecord<PlainReverseTokenRecord>({ token: 'r', kind: 'reverse', port: 3000, password: 'p' }))).to.equal('replaced');
    expect(store.get('r')).to.include({ password: 'p' });
    expect(store.getByHash(sha256Hex('r'))).to.include({ password: 'p' });
    expect(store.put(makeTokenRecord<PlainReverseTokenRecord>({ token: 'r', kind: 'reverse', port: 3001 }))).to.equal('added');
    expect(store.ports.isAllocated(3000)).to.equal(false);
    expect(store.ports.isAllocated(3001)).to.equal(true);
    expect(events).to.deep.equal(['+r', '-r', '+r']);
  });

  it('PortPool.candidate proposes free ports without taking them', () => {
    const pool = new PortPool({ min: 5000, max: 5002 });
    pool.allocate(5001);
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) seen.add(pool.candidate()!);
    expect([...seen].sort()).to.deep.equal([5000, 5002]);
    expect(pool.candidate(new Set([5000]))).to.equal(5002);
    expect(pool.candidate(new Set([5000, 5002]))).to.equal(undefined);
    expect(pool.available).to.equal(2);
  });
});

import { expect } from 'chai';
import { PEER_AUTH_WINDOW_MS, PeerAuth } from '../../src/cluster/peer-auth.js';
import { sha256Hex } from '../../src/util/secrets.js';

const HASH = sha256Hex('rev');

describe('cluster: instance link authentication (PeerAuth)', function () {
  let clock = 1_700_000_000_000;
  const now = (): number => clock;

  it('accepts headers signed with the same secret for this node, once', function () {
    const a = new PeerAuth('S', 'a', now);
    const b = new PeerAuth('S', 'b', now);
    const headers = a.headers('b', HASH);
    expect(b.verify(headers)).to.deep.equal({ ok: true, from: 'a', tokenHash: HASH });
    expect(b.verify(headers)).to.deep.equal({ ok: false, reason: 'cluster authentication replayed' });
  });

  it('never sends the secret', function () {
    const headers = new PeerAuth('very-secret-value', 'a', now).headers('b', HASH);
    expect(JSON.stringify(headers)).to.not.contain('very-secret-value');
  });

  it('refuses a wrong secret, missing or malformed headers, another receiver, a tampered token hash', function () {
    const b = new PeerAuth('S', 'b', now);
    expect(b.verify(new PeerAuth('T', 'a', now).headers('b', HASH))).to.include({ ok: false, reason: 'cluster authentication failed' });
    expect(b.verify({})).to.include({ ok: false, reason: 'cluster authentication missing' });
    const good = new PeerAuth('S', 'a', now).headers('b', HASH);
    expect(b.verify({ ...good, 'x-linksocks-cluster-auth': 'zz' })).to.include({ ok: false, reason: 'cluster authentication malformed' });
    expect(b.verify({ ...good, 'x-linksocks-cluster-token': sha256Hex('other') })).to.include({ ok: false, reason: 'cluster authentication failed' });
    expect(new PeerAuth('S', 'c', now).verify(new PeerAuth('S', 'a', now).headers('b', HASH))).to.include({ ok: false, reason: 'cluster link meant for another node' });
  });

  it('refuses timestamps outside the window', function () {
    const a = new PeerAuth('S', 'a', now);
    const b = new PeerAuth('S', 'b', now);
    const old = a.headers('b', HASH);
    clock += PEER_AUTH_WINDOW_MS + 1;
    expect(b.verify(old)).to.include({ ok: false, reason: 'cluster authentication expired (clock skew?)' });
    expect(b.verify(a.headers('b', HASH)).ok).to.equal(true);
  });
});

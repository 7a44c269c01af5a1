// The expiry of token policies under fake timers: one timer for the nearest expiry, re-armed on
// changes, far expiries beyond setTimeout's range, failed removals retried without a busy loop.
import { expect } from 'chai';
import type FakeTimers from '@sinonjs/fake-timers';
import { TokenExpiry } from '../../src/server/token-expiry.js';
import type { TokenRecord } from '../../src/server/tokens.js';
import { installClock } from './fakes.js';

function record(token: string, expiresAt?: number): TokenRecord {
  return { token, hash: token, kind: 'forward', ...(expiresAt !== undefined && { policy: { expiresAt } }) };
}

describe('unit: token expiry', function () {
  let clock: FakeTimers.Clock;
  let tokens: Map<string, TokenRecord>;
  let expired: string[];
  let expiry: TokenExpiry;

  beforeEach(function () {
    clock = installClock();
    tokens = new Map();
    expired = [];
    expiry = new TokenExpiry({
      list: () => tokens.values(),
      expire: (r) => {
        expired.push(r.token);
        tokens.delete(r.token);
      },
    });
  });

  afterEach(function () {
    expiry.stop();
    clock.uninstall();
  });

  const add = (token: string, inMs?: number): void => {
    tokens.set(token, record(token, inMs === undefined ? undefined : Date.now() + inMs));
    expiry.reschedule();
  };

  it('one timer for the nearest expiry; each token goes at its time', function () {
    add('a', 5000);
    add('b', 2000);
    add('c');
    expect(clock.countTimers()).to.equal(1);
    expect(expiry.nextAt).to.equal(Date.now() + 2000);
    clock.tick(1999);
    expect(expired).to.deep.equal([]);
    clock.tick(1);
    expect(expired).to.deep.equal(['b']);
    expect(expiry.nextAt).to.equal(Date.now() + 3000);
    clock.tick(3000);
    expect(expired).to.deep.equal(['b', 'a']);
    expect(clock.countTimers()).to.equal(0);
    expect(tokens.has('c')).to.equal(true);
  });

  it('tokens expiring at the same moment go together', function () {
    add('a', 1000);
    add('b', 1000);
    clock.tick(1000);
    expect(expired.sort()).to.deep.equal(['a', 'b']);
  });

  it('a change re-arms: expiry moved earlier, later, or cleared', function () {
    add('a', 10_000);
    tokens.set('a', record('a', Date.now() + 1000));
    expiry.reschedule();
    clock.tick(1000);
    expect(expired).to.deep.equal(['a']);
    add('b', 1000);
    tokens.set('b', record('b'));
    expiry.reschedule();
    expect(clock.countTimers()).to.equal(0);
    clock.tick(5000);
    expect(expired).to.deep.equal(['a']);
  });

  it('sweep() removes what expired already (tokens restored from a state file)', function () {
    tokens.set('old', record('old', Date.now() - 1));
    tokens.set('new', record('new', Date.now() + 1000));
    expiry.sweep();
    expect(expired).to.deep.equal(['old']);
    expect(expiry.nextAt).to.equal(Date.now() + 1000);
  });

  it('an expiry beyond setTimeout range (about 24.8 days) is reached in steps', function () {
    const days = 60;
    add('far', days * 86_400_000);
    clock.tick(30 * 86_400_000);
    expect(expired).to.deep.equal([]);
    clock.tick(30 * 86_400_000);
    expect(expired).to.deep.equal(['far']);
  });

  it('a failed removal is retried a second later, not in a busy loop', function () {
    let failures = 2;
    const errors: string[] = [];
    expiry.stop();
    expiry = new TokenExpiry({
      list: () => tokens.values(),
      expire: (r) => {
        if (failures > 0) {
          failures -= 1;
          throw new Error('disk full');
        }
        expired.push(r.token);
        tokens.delete(r.token);
      },
      onError: (_r, err) => errors.push((err as Error).message),
    });
    add('a', 100);
    clock.tick(100);
    expect(errors).to.deep.equal(['disk full']);
    clock.tick(999);
    expect(errors).to.have.length(1);
    clock.tick(1);
    expect(errors).to.have.length(2);
    clock.tick(1000);
    expect(expired).to.deep.equal(['a']);
  });

  it('stop() clears the timer', function () {
    add('a', 1000);
    expiry.stop();
    expect(clock.countTimers()).to.equal(0);
    expiry.reschedule();
    expect(clock.countTimers()).to.equal(0);
  });
});

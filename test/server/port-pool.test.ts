import { expect } from 'chai';
import { TokenError } from '../../src/server/token-error.js';
import { PortPool } from '../../src/server/port-pool.js';

describe('PortPool', () => {
  it('defaults to 1024–10240 and hands out ports of that range', () => {
    const pool = new PortPool();
    expect(pool.range).to.deep.equal({ min: 1024, max: 10240 });
    expect(pool.available).to.equal(10240 - 1024 + 1);
    const port = pool.allocate();
    expect(port).to.be.within(1024, 10240);
    expect(pool.isAllocated(port)).to.equal(true);
  });

  it('grants a requested free port, even outside the range, and refuses a taken one with Go text', () => {
    const pool = new PortPool({ min: 2000, max: 2001 });
    expect(pool.allocate(2000)).to.equal(2000);
    expect(pool.allocate(9870)).to.equal(9870);
    expect(pool.available).to.equal(1);
    for (const taken of [2000, 9870]) {
      expect(() => pool.allocate(taken))
        .to.throw(TokenError, `cannot allocate port: ${taken}`)
        .with.property('code', 'ERR_LINKSOCKS_PORT_UNAVAILABLE');
    }
  });

  it('refuses numbers that are not ports', () => {
    const pool = new PortPool();
    for (const bad of [-1, 65536, 1.5]) {
      expect(() => pool.allocate(bad)).to.throw(TokenError, `cannot allocate port: ${bad}`);
    }
  });

  it('reports exhaustion as port 0 and reuses released ports', () => {
    const pool = new PortPool({ min: 3000, max: 3002 });
    const got = [pool.allocate(), pool.allocate(), pool.allocate()].sort();
    expect(got).to.deep.equal([3000, 3001, 3002]);
    expect(() => pool.allocate()).to.throw(TokenError, 'cannot allocate port: 0');
    pool.release(3001);
    expect(pool.isAllocated(3001)).to.equal(false);
    expect(pool.allocate()).to.equal(3001);
  });

  it('ignores releases of unknown ports and does not add out-of-range ports to the pool', () => {
    const pool = new PortPool({ min: 4000, max: 4000 });
    pool.release(4000);
    pool.release(12345);
    expect(pool.available).to.equal(1);
    pool.allocate(50000);
    pool.release(50000);
    expect(pool.available).to.equal(1);
    expect(pool.allocate()).to.equal(4000);
  });

  it('keeps its free list consistent under mixed specific and random allocations', () => {
    const pool = new PortPool({ min: 5000, max: 5099 });
    const held = new Set<number>();
    for (let round = 0; round < 500; round++) {
      if (held.size > 0 && round % 3 === 0) {
        const port = [...held][round % held.size]!;
        pool.release(port);
        held.delete(port);
      } else if (round % 5 === 0 && !pool.isAllocated(5000 + (round % 100))) {
        held.add(pool.allocate(5000 + (round % 100)));
      } else if (pool.available > 0) {
        const port = pool.allocate();
        expect(held.has(port)).to.equal(false);
        held.add(port);
      }
      expect(pool.available).to.equal(100 - held.size);
    }
  });

  it('rejects an invalid range', () => {
    expect(() => new PortPool({ min: 10, max: 5 })).to.throw(RangeError);
    expect(() => new PortPool({ min: 0, max: 5 })).to.throw(RangeError);
  });
});

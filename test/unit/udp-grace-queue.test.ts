// The bounded queue a UDP channel keeps while its link is down: count and byte bounds, the oldest
// dropped first, every drop counted.
import { expect } from 'chai';
import { RelayCounters } from '../../src/relay/counters.js';
import { UdpGraceQueue } from '../../src/relay/udp-grace-queue.js';

describe('UdpGraceQueue', function () {
  it('keeps datagrams in order and hands them over once', function () {
    const counters = new RelayCounters();
    const queue = new UdpGraceQueue<string>(4, 100);
    queue.push('a', 10, counters);
    queue.push('b', 10, counters);
    expect(queue.take()).to.deep.equal(['a', 'b']);
    expect(queue.take()).to.deep.equal([]);
    expect(counters.udpDatagramsDropped).to.equal(0);
  });

  it('drops the oldest past the count bound, and counts them', function () {
    const counters = new RelayCounters();
    const queue = new UdpGraceQueue<number>(3, 1000);
    for (let i = 1; i <= 5; i += 1) queue.push(i, 1, counters);
    expect(queue.dropped).to.equal(2);
    expect(counters.udpDatagramsDropped).to.equal(2);
    expect(queue.take()).to.deep.equal([3, 4, 5]);
    expect(queue.dropped, 'reset by take').to.equal(0);
  });

  it('drops the oldest past the byte bound; a datagram larger than the bound is dropped itself', function () {
    const counters = new RelayCounters();
    const queue = new UdpGraceQueue<string>(100, 25);
    queue.push('a', 10, counters);
    queue.push('b', 10, counters);
    queue.push('c', 10, counters);
    expect(queue.length).to.equal(2);
    queue.push('huge', 26, counters);
    expect(counters.udpDatagramsDropped).to.equal(2);
    expect(queue.take()).to.deep.equal(['b', 'c']);
  });

  it('clear() counts what was still queued as dropped', function () {
    const counters = new RelayCounters();
    const queue = new UdpGraceQueue<string>();
    queue.push('a', 1, counters);
    queue.push('b', 1, counters);
    queue.clear(counters);
    expect(counters.udpDatagramsDropped).to.equal(2);
    expect(queue.length).to.equal(0);
  });
});

import type { RelayCounters } from './counters.js';

/** Datagrams one UDP channel keeps, per direction, while its link is down (transport grace). */
export const UDP_GRACE_QUEUE_DATAGRAMS = 256;
/** Payload bytes one UDP channel keeps, per direction, while its link is down. */
export const UDP_GRACE_QUEUE_BYTES = 1024 * 1024;

/**
 * Datagrams waiting for a lost link to come back, bounded in count and bytes. Past a bound the
 * oldest go first (the newest are the likeliest to still matter: a retransmitting client has sent
 * them again, a game or voice stream wants the latest state), and every one dropped is counted in
 * `udpDatagramsDropped` (the `linksocks_udp_datagrams_dropped_total` metric) and in `dropped`,
 * which the channel logs when it resumes. Only allocated once a link is lost: the hot path of an
 * up link never touches it.
 */
export class UdpGraceQueue<T> {
  private items: T[] = [];
  private sizes: number[] = [];
  private bytes = 0;
  /** Dropped since the last take(). */
  dropped = 0;

  constructor(
    private readonly maxDatagrams = UDP_GRACE_QUEUE_DATAGRAMS,
    private readonly maxBytes = UDP_GRACE_QUEUE_BYTES,
  ) {}

  get length(): number {
    return this.items.length;
  }

  push(item: T, size: number, counters: RelayCounters): void {
    if (size > this.maxBytes) {
      this.drop(1, counters);
      return;
    }
    this.items.push(item);
    this.sizes.push(size);
    this.bytes += size;
    while (this.items.length > this.maxDatagrams || this.bytes > this.maxBytes) {
      this.items.shift();
      this.bytes -= this.sizes.shift()!;
      this.drop(1, counters);
    }
  }

  /** Everything queued, oldest first; the queue is empty afterwards. */
  take(): T[] {
    const items = this.items;
    this.items = [];
    this.sizes = [];
    this.bytes = 0;
    this.dropped = 0;
    return items;
  }

  /** The channel ended: what is still queued is dropped (and counted). */
  clear(counters: RelayCounters): void {
    this.drop(this.items.length, counters);
    this.take();
  }

  private drop(count: number, counters: RelayCounters): void {
    this.dropped += count;
    counters.udpDatagramsDropped += count;
  }
}

/**
 * The SOCKS5 UDP request header (RFC 1928 §7): `RSV(2) FRAG(1) ATYP DST.ADDR DST.PORT DATA`.
 * Pure encode/decode, shared by the SOCKS-side UDP relay and anything that speaks to it.
 */
import { encodeAddress, readAddress } from './address.js';
import { Socks5Error } from './errors.js';
import type { UdpDatagram } from './types.js';

const HEADER_PREFIX = Buffer.from([0x00, 0x00, 0x00]);

/**
 * Parses one datagram from a SOCKS client. Throws Socks5Error: ERR_SOCKS5_UDP_FRAGMENTED
 * (FRAG ≠ 0: fragmentation is not supported, the datagram is dropped as RFC 1928 allows),
 * ERR_SOCKS5_ADDRESS_TYPE, or ERR_SOCKS5_TRUNCATED (shorter than its header announces — Go
 * panics on this, MODES.md §7.5). RSV is ignored. `data` is a view into `buf`.
 */
export function parseUdpDatagram(buf: Buffer): UdpDatagram {
  if (buf.length < 4) {
    throw new Socks5Error('ERR_SOCKS5_TRUNCATED', `UDP datagram too short: ${buf.length} bytes`);
  }
  const frag = buf[2]!;
  if (frag !== 0) {
    throw new Socks5Error('ERR_SOCKS5_UDP_FRAGMENTED', `fragmented UDP datagram (FRAG=${frag}) not supported`);
  }
  const read = readAddress(buf, 3);
  if (read.status === 'invalid') throw read.error;
  if (read.status === 'incomplete') {
    throw new Socks5Error('ERR_SOCKS5_TRUNCATED', 'UDP datagram shorter than its address');
  }
  return { ...read.address, data: buf.subarray(read.end) };
}

/**
 * Builds a datagram for a SOCKS client: header `00 00 00`, then ATYP 01 for IPv4 (also
 * IPv4-mapped IPv6), 04 for IPv6, 03 + length + name otherwise, port, data.
 * Throws ERR_SOCKS5_BAD_ADDRESS for an invalid port or a name over 255 bytes.
 */
export function buildUdpDatagram(host: string, port: number, data: Uint8Array): Buffer {
  return Buffer.concat([HEADER_PREFIX, encodeAddress(host, port), data]);
}

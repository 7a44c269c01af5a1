import { isIPv4, isIPv6 } from 'node:net';
import { Socks5Error } from './errors.js';
import type { AddressType } from './types.js';

/** ATYP values of RFC 1928. */
export const Atyp = {
  IPv4: 0x01,
  Domain: 0x03,
  IPv6: 0x04,
} as const;

export interface SocksAddress {
  /** Dotted IPv4, RFC 5952 IPv6 (without brackets) or the domain name verbatim. */
  host: string;
  port: number;
  /** What `host` is. An IPv4-mapped IPv6 address is rendered as IPv4 (like Go), so it is 'ipv4'. */
  addressType: AddressType;
}

export type AddressRead =
  | { status: 'complete'; address: SocksAddress; /** Offset just past DST.PORT. */ end: number }
  | { status: 'incomplete' }
  | { status: 'invalid'; error: Socks5Error };

const INCOMPLETE: AddressRead = { status: 'incomplete' };

/**
 * Reads `ATYP ADDR PORT` starting at `offset` (the ATYP byte). 'incomplete' means more bytes are
 * needed; callers that hold a whole datagram treat it as truncation.
 */
export function readAddress(buf: Buffer, offset: number): AddressRead {
  if (offset >= buf.length) return INCOMPLETE;
  const atyp = buf[offset]!;
  let hostStart = offset + 1;
  let hostEnd: number;
  switch (atyp) {
    case Atyp.IPv4:
      hostEnd = hostStart + 4;
      break;
    case Atyp.IPv6:
      hostEnd = hostStart + 16;
      break;
    case Atyp.Domain:
      if (hostStart >= buf.length) return INCOMPLETE;
      hostEnd = hostStart + 1 + buf[hostStart]!;
      hostStart += 1;
      break;
    default:
      return {
        status: 'invalid',
        error: new Socks5Error('ERR_SOCKS5_ADDRESS_TYPE', `unsupported address type: ${atyp}`),
      };
  }
  const end = hostEnd + 2;
  if (end > buf.length) return INCOMPLETE;
  const port = buf.readUInt16BE(hostEnd);
  const raw = buf.subarray(hostStart, hostEnd);
  let address: SocksAddress;
  if (atyp === Atyp.IPv4) {
    address = { host: formatIPv4(raw), port, addressType: 'ipv4' };
  } else if (atyp === Atyp.IPv6) {
    const host = formatIPv6(raw);
    address = { host, port, addressType: isIPv4(host) ? 'ipv4' : 'ipv6' };
  } else {
    // Verbatim, no validation (MODES.md §7.3): the dialing side decides what the name means.
    address = { host: raw.toString('utf8'), port, addressType: 'domain' };
  }
  return { status: 'complete', address, end };
}

/**
 * Encodes `ATYP ADDR PORT` the way Go's dialer and UDP relay do: IPv4 and IPv4-mapped IPv6
 * literals as ATYP 1, other IPv6 literals as ATYP 4, anything else as a domain name (ATYP 3).
 * Throws ERR_SOCKS5_BAD_ADDRESS for a name longer than 255 bytes or an invalid port.
 */
export function encodeAddress(host: string, port: number): Buffer {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new Socks5Error('ERR_SOCKS5_BAD_ADDRESS', `invalid port: ${port}`);
  }
  const bare = stripBrackets(host);
  let out: Buffer;
  const v4 = parseIPv4(bare);
  const v6 = v4 === null ? parseIPv6(bare) : null;
  if (v4 !== null || (v6 !== null && isIPv4Mapped(v6))) {
    out = Buffer.alloc(1 + 4 + 2);
    out[0] = Atyp.IPv4;
    (v4 ?? v6!.subarray(12)).copy(out, 1);
  } else if (v6 !== null) {
    out = Buffer.alloc(1 + 16 + 2);
    out[0] = Atyp.IPv6;
    v6.copy(out, 1);
  } else {
    const name = Buffer.from(host, 'utf8');
    if (name.length > 255) {
      throw new Socks5Error('ERR_SOCKS5_BAD_ADDRESS', `domain name too long for SOCKS5: ${name.length} bytes`);
    }
    out = Buffer.alloc(2 + name.length + 2);
    out[0] = Atyp.Domain;
    out[1] = name.length;
    name.copy(out, 2);
  }
  out.writeUInt16BE(port, out.length - 2);
  return out;
}

export function formatIPv4(bytes: Uint8Array): string {
  return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
}

/** 16 bytes → text as Go's net.IP.String: RFC 5952, IPv4-mapped addresses as dotted IPv4. */
export function formatIPv6(bytes: Uint8Array): string {
  if (isIPv4Mapped(bytes)) return formatIPv4(bytes.subarray(12));
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // RFC 5952 §4.2: compress the first longest run of two or more zero groups.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j += 1;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number): string => g.toString(16);
  if (bestStart < 0) return groups.map(hex).join(':');
  const head = groups.slice(0, bestStart).map(hex).join(':');
  const tail = groups.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}

export function isIPv4Mapped(bytes: Uint8Array): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i += 1) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** Dotted-quad text → 4 bytes, or null when it is not a plain IPv4 literal. */
export function parseIPv4(text: string): Buffer | null {
  if (!isIPv4(text)) return null;
  return Buffer.from(text.split('.').map(Number));
}

/** IPv6 text (zone index ignored, embedded IPv4 allowed) → 16 bytes, or null. */
export function parseIPv6(text: string): Buffer | null {
  const zone = text.indexOf('%');
  const addr = zone >= 0 ? text.slice(0, zone) : text;
  if (!isIPv6(addr)) return null;
  const out = Buffer.alloc(16);
  let words: string[];
  const gap = addr.indexOf('::');
  const toWords = (part: string): string[] => (part === '' ? [] : part.split(':'));
  const expand = (part: string[]): string[] => {
    // An embedded dotted IPv4 tail stands for two 16-bit groups.
    const last = part[part.length - 1];
    if (last === undefined || !last.includes('.')) return part;
    const b = parseIPv4(last);
    if (b === null) return part;
    return [...part.slice(0, -1), ((b[0]! << 8) | b[1]!).toString(16), ((b[2]! << 8) | b[3]!).toString(16)];
  };
  if (gap >= 0) {
    const left = expand(toWords(addr.slice(0, gap)));
    const right = expand(toWords(addr.slice(gap + 2)));
    words = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  } else {
    words = expand(toWords(addr));
  }
  if (words.length !== 8) return null;
  words.forEach((w, i) => out.writeUInt16BE(parseInt(w, 16), i * 2));
  return out;
}

/** `[::1]` → `::1`; anything else unchanged. */
export function stripBrackets(host: string): string {
  return host.length >= 2 && host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/** An IPv6 literal (bracketed or not) as Go would print it (`::ffff:1.2.3.4` → `1.2.3.4`); else unchanged. */
export function canonicalHost(host: string): string {
  const v6 = parseIPv6(stripBrackets(host));
  return v6 === null ? host : formatIPv6(v6);
}

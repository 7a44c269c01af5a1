/**
 * IP addresses as 128-bit numbers, the way Go compares them as 16-byte values: an IPv4 address
 * is its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so `127.0.0.1` and `::ffff:127.0.0.1` are the
 * same address to every rule. Pure text parsing, no name resolution.
 */

import { formatIPv6 } from '../socks5/address.js';

export type IpFamily = 4 | 6;

export interface IpValue {
  /** The address as a 128-bit number (IPv4 mapped into ::ffff:0:0/96). */
  value: bigint;
  /** 4 for IPv4 and IPv4-mapped IPv6 addresses, 6 otherwise. */
  family: IpFamily;
}

export const V4_MAPPED_BASE = 0xffffn << 32n;
const MAX128 = (1n << 128n) - 1n;

const V4_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;

/** Strict dotted quad (no leading zeros, as Go's ParseIP since 1.17); undefined if not one. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!V4_OCTET.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

const HEXTET = /^[0-9a-fA-F]{1,4}$/;

/** RFC 4291 text form, `::` and a trailing dotted quad included; zones (`%eth0`) are refused. */
export function parseIpv6(text: string): bigint | undefined {
  if (text.includes('%')) return undefined;
  const double = text.indexOf('::');
  if (double !== text.lastIndexOf('::')) return undefined;
  const parseGroups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const pieces = part.split(':');
    for (let i = 0; i < pieces.length; i += 1) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes('.')) {
        const v4 = parseIpv4(piece);
        if (v4 === undefined) return undefined;
        out.push(Math.floor(v4 / 65536), v4 % 65536);
      } else if (HEXTET.test(piece)) {
        out.push(parseInt(piece, 16));
      } else {
        return undefined;
      }
    }
    return out;
  };
  let groups: number[];
  if (double < 0) {
    const all = parseGroups(text);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  } else {
    const head = parseGroups(text.slice(0, double));
    const tail = parseGroups(text.slice(double + 2));
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  let value = 0n;
  for (const group of groups) value = (value << 16n) | BigInt(group);
  return value;
}

/** Parses an IPv4 or IPv6 literal (IPv6 optionally in brackets); undefined for anything else. */
export function parseIp(text: string): IpValue | undefined {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const v4 = parseIpv4(bare);
  if (v4 !== undefined) return { value: V4_MAPPED_BASE | BigInt(v4), family: 4 };
  if (!bare.includes(':')) return undefined;
  const v6 = parseIpv6(bare);
  if (v6 === undefined) return undefined;
  return { value: v6, family: v6 >> 32n === 0xffffn ? 4 : 6 };
}

export function isIpLiteral(text: string): boolean {
  return parseIp(text) !== undefined;
}

/** The address as text: dotted quad for IPv4 (and IPv4-mapped), RFC 5952 form for IPv6. */
export function formatIp(ip: IpValue): string {
  // `value` is always the 16-byte form (IPv4 mapped), which the SOCKS5 layer's formatter prints.
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i += 1) bytes[i] = Number((ip.value >> BigInt((15 - i) * 8)) & 0xffn);
  return formatIPv6(bytes);
}

/** The inclusive range of a prefix of `bits` (counted in the 128-bit space). */
export function prefixRange(value: bigint, bits: number): { lo: bigint; hi: bigint } {
  const hostBits = BigInt(128 - bits);
  const mask = hostBits === 128n ? 0n : (MAX128 >> hostBits) << hostBits;
  const lo = value & mask;
  return { lo, hi: lo | (MAX128 ^ mask) };
}

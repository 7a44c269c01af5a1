import { encodeAddress } from './address.js';

export const SOCKS_VERSION = 0x05;
/** RFC 1929 sub-negotiation version. */
export const USERPASS_VERSION = 0x01;

/** Authentication methods of RFC 1928 §3. */
export const Method = {
  NoAuth: 0x00,
  UserPass: 0x02,
  NoAcceptable: 0xff,
} as const;

/** Commands of RFC 1928 §4. */
export const Command = {
  Connect: 0x01,
  Bind: 0x02,
  UdpAssociate: 0x03,
} as const;

/**
 * `VER REP RSV ATYP BND.ADDR BND.PORT`. The bound address defaults to 0.0.0.0:0, which is what Go
 * sends for CONNECT and for every failure (also the 10-byte form used for greeting errors).
 */
export function formatSocksReply(code: number, boundHost = '0.0.0.0', boundPort = 0): Buffer {
  const address = encodeAddress(boundHost, boundPort);
  return Buffer.concat([Buffer.from([SOCKS_VERSION, code & 0xff, 0x00]), address]);
}

export function formatMethodSelection(method: number): Buffer {
  return Buffer.from([SOCKS_VERSION, method]);
}

export function formatAuthStatus(ok: boolean): Buffer {
  return Buffer.from([USERPASS_VERSION, ok ? 0x00 : 0x01]);
}

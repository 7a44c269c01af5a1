// Frames as the newest LinkSocks writes them (../shared/spec/NEWEST.md §1), for the emulated
// newest peers in interop/newest/ and for tests that talk to our server as one. Our codec writes
// the v1.7.15 layout; the differences NEWEST.md lists are patched in here: version byte 0x02 on
// every frame, the AuthResponse token, the Connect Resume byte, the Data sequence, and the
// JSON-bodied types 0x0B–0x11 a default newest peer sends to anyone.
import { randomUUID } from 'node:crypto';

import { encodeMessage, NewestMessageType, type DecodeOptions, type Message, type OutgoingMessage } from '../../src/protocol/index.js';
import { decodeMessage } from '../../src/protocol/index.js';

export const NEWEST_VERSION = 0x02;
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

export const CLIENT_HELLO = 'linksocks_client_hello:direct_signaling=1;protocol_version=0x02';
export const SERVER_HELLO = 'linksocks_server_hello:direct_signaling=1';
export const PROBE = 'probe:{"version":"2026-08-08T00:00:00.000Z","time":"2026-08-08T00:10:00.000Z"}';

/** A message with version byte 0x02; a Data message may carry a sequence (NEWEST.md §1.3). */
export function newestFrame(msg: OutgoingMessage, sequence?: bigint): Buffer {
  const frame = encodeMessage(msg);
  frame[0] = NEWEST_VERSION;
  if (sequence === undefined) return frame;
  const out = Buffer.allocUnsafe(frame.length + 8);
  frame.copy(out);
  out.writeBigUInt64BE(sequence, frame.length);
  return out;
}

/** AuthResponse success with the optional `TokenLen u8, Token` suffix. */
export function authSuccessWithToken(token: string): Buffer {
  const bytes = Buffer.from(token, 'utf8');
  return Buffer.concat([Buffer.from([NEWEST_VERSION, 0x02, 0x01, bytes.length]), bytes]);
}

/** `Version | Type | DataLen u32be | JSON` (NEWEST.md §1.2). */
export function jsonFrame(type: number, body: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(body), 'utf8');
  const frame = Buffer.allocUnsafe(6 + json.length);
  frame[0] = NEWEST_VERSION;
  frame[1] = type;
  frame.writeUInt32BE(json.length, 2);
  json.copy(frame, 6);
  return frame;
}

export function logFrame(level: string, msg: string): Buffer {
  return newestFrame({ type: 'log', level, msg });
}

/** What a default newest client sends right after authenticating: the hello and its capabilities. */
export function clientGreeting(sessionId: string): Buffer[] {
  return [
    logFrame('debug', CLIENT_HELLO),
    jsonFrame(NewestMessageType.DirectCapabilities, {
      session_id: sessionId,
      candidates: [{ addr: '192.0.2.10', port: 40000, kind: 'host' }],
      discoveries: ['stun'],
      public_key: Buffer.alloc(32, 7).toString('base64'),
      protocol_version: 2,
    }),
    jsonFrame(NewestMessageType.DirectStatus, { session_id: sessionId, status: 'probing', metrics: {} }),
  ];
}

/** Channel-control and direct-mode noise about one channel, plus a type nobody defines yet. */
export function channelNoise(channelId: string, sequence: bigint): Buffer[] {
  return [
    jsonFrame(NewestMessageType.ChannelBind, { channel_id: channelId, protocol: 'tcp', peer_session_id: NIL_UUID }),
    jsonFrame(NewestMessageType.ChannelDataAck, { channel_id: channelId, sequence: Number(sequence) }),
    jsonFrame(NewestMessageType.ChannelMigrate, { channel_id: channelId, reason: 'write failure' }),
    jsonFrame(NewestMessageType.ChannelMigrateAck, { channel_id: channelId, success: false, error: 'unknown channel' }),
    jsonFrame(NewestMessageType.DirectRendezvous, { session_id: randomUUID(), remote_session_id: NIL_UUID, candidates: [] }),
    Buffer.from([NEWEST_VERSION, 0x12, 0, 0, 0, 0]),
  ];
}

/**
 * Decodes a frame from the implementation under test and notes where it is not what every
 * LinkSocks version accepts: a version byte other than 0x01, a Resume byte, a Data sequence.
 */
export function decodeFromPeer(frame: Buffer, violations: string[], options?: DecodeOptions): Message {
  const msg = decodeMessage(frame, options);
  if (frame[0] !== 0x01) violations.push(`version byte 0x${frame[0]!.toString(16)} on ${msg.type}`);
  if (msg.type === 'connect' && msg.resume) violations.push(`Resume byte on Connect ${msg.channelId}`);
  if (msg.type === 'data' && msg.sequence !== undefined) violations.push(`sequence on Data ${msg.channelId}`);
  if (msg.type === 'unsupported') violations.push(`type 0x${msg.messageType.toString(16)}`);
  return msg;
}

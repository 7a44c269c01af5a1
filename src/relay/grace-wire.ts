import type { LogMessage } from '../protocol/index.js';

/**
 * The linksocks-ts transport grace extension, carried in LogMessages (type 0x09, which every
 * LinkSocks version parses: v1.7.15 and newest servers ignore Log from clients, clients print it
 * at its level). The hello goes to every peer; acks and offsets only to peers that sent it.
 *
 * - hello `linksocks_ts_hello:resume=1` (debug): "I keep channels across a lost link and speak
 *   the byte counts below".
 * - ack `linksocks_ts_ack:<channel>:<n>` (trace): "I have received n bytes of this channel";
 *   the sender may drop what it kept for replay up to n.
 * - offset `linksocks_ts_offset:<channel>:<n>` (trace): sent once after a resume by each side:
 *   "I have received n bytes"; the other side replays from n before anything new.
 */
export const GRACE_HELLO: LogMessage = { type: 'log', level: 'debug', msg: 'linksocks_ts_hello:resume=1' };

const ACK = 'linksocks_ts_ack:';
const OFFSET = 'linksocks_ts_offset:';

export type GraceControl =
  | { kind: 'hello' }
  | { kind: 'ack' | 'offset'; channelId: string; received: number };

export function graceAck(channelId: string, received: number): LogMessage {
  return { type: 'log', level: 'trace', msg: `${ACK}${channelId}:${received}` };
}

export function graceOffset(channelId: string, received: number): LogMessage {
  return { type: 'log', level: 'trace', msg: `${OFFSET}${channelId}:${received}` };
}

/** The grace control carried by a LogMessage, or undefined for any other log. */
export function parseGraceControl(msg: LogMessage): GraceControl | undefined {
  const text = msg.msg;
  if (!text.startsWith('linksocks_ts_')) return undefined;
  if (text === GRACE_HELLO.msg) return { kind: 'hello' };
  const kind = text.startsWith(ACK) ? 'ack' : text.startsWith(OFFSET) ? 'offset' : undefined;
  if (!kind) return undefined;
  const rest = text.slice(kind === 'ack' ? ACK.length : OFFSET.length);
  const colon = rest.lastIndexOf(':');
  const received = Number(rest.slice(colon + 1));
  if (colon <= 0 || !Number.isSafeInteger(received) || received < 0) return undefined;
  return { kind, channelId: rest.slice(0, colon), received };
}

/**
 * One WebSocket message → typed message (PROTOCOL.md §3, §5, §9). Pure: no I/O, no logging.
 *
 * Length rules follow the Go parser: every field must be present, anything after the last field
 * is ignored. Every failure is a ProtocolError; once the channel id has been read it is attached
 * to the error, so a relay can tear down that one channel instead of the whole WebSocket.
 *
 * Deliberate differences from the v1.7.15 parser (we follow the HEAD rules, as PROTOCOL.md §2.1
 * and §5 recommend for a tolerant receiver):
 * - the version byte is accepted when its major nibble is 0 (0x00–0x0F), not only 0x01. The
 *   vector `invalid_version_0` (`00 01`) is still rejected, as a truncated Auth; the vector
 *   `invalid_version_2` carries enough bytes after its 0x02 version byte to decode as an Auth;
 * - an unknown type byte yields `{ type: 'unsupported' }` instead of an error (vectors
 *   `invalid_unknown_type_*`), so newer peers' messages 0x0B–0x11 can simply be ignored;
 * - the optional suffixes newer peers append are read (NEWEST.md §1.3): the token after an
 *   AuthResponse success, the Resume byte of a Connect, the sequence after a Data message.
 */
import { ProtocolError, type ProtocolErrorCode } from './errors.js';
import { integerField, stringField, unmarshalObjectLikeGo } from './go-json.js';
import { DEFAULT_MAX_DECOMPRESSED_SIZE, gunzipPayload } from './gzip.js';
import {
  Compression,
  MessageType,
  PROTOCOL_VERSION,
  type AuthMessage,
  type AuthResponseMessage,
  type ConnectMessage,
  type ConnectResponseMessage,
  type ConnectorMessage,
  type ConnectorResponseMessage,
  type DataMessage,
  type DisconnectMessage,
  type LogMessage,
  type Message,
  type PartnersMessage,
  type WireProtocol,
} from './types.js';
import { UUID_BYTE_LENGTH, bytesToUuid } from './uuid.js';
import { DATA_HEADER_LENGTH, HEADER_LENGTH, PROTOCOL_BYTE_TCP, PROTOCOL_BYTE_UDP } from './wire.js';

export interface DecodeOptions {
  /** Largest payload a gzip-compressed Data message may expand to (default 32 MiB). */
  maxDecompressedSize?: number;
}

/** Offset of the channel id in messages whose body starts with a protocol or success byte. */
const CHANNEL_AFTER_FLAG = HEADER_LENGTH + 1;
/** Offset of the channel id in Disconnect, Connector and ConnectorResponse. */
const CHANNEL_AT_BODY = HEADER_LENGTH;
/** Offset of the 4-byte length in Log and Partners. */
const JSON_LENGTH_OFFSET = HEADER_LENGTH;
const JSON_BODY_OFFSET = HEADER_LENGTH + 4;

export function decodeMessage(buf: Buffer, options?: DecodeOptions): Message {
  // A plain Uint8Array would make the Data payload view a Uint8Array; rewrap without copying.
  const frame = Buffer.isBuffer(buf) ? buf : asBuffer(buf);
  if (frame.length < HEADER_LENGTH) fail('ERR_LINKSOCKS_TRUNCATED', 'message too short');
  const version = frame[0]!;
  if (version >> 4 !== PROTOCOL_VERSION >> 4) {
    fail('ERR_LINKSOCKS_VERSION', `unsupported protocol major version 0x${hexByte(version)}`);
  }
  const type = frame[1]!;
  switch (type) {
    case MessageType.Auth:
      return decodeAuth(frame);
    case MessageType.AuthResponse:
      return decodeAuthResponse(frame);
    case MessageType.Connect:
      return decodeConnect(frame);
    case MessageType.Data:
      return decodeData(frame, options?.maxDecompressedSize ?? DEFAULT_MAX_DECOMPRESSED_SIZE);
    case MessageType.ConnectResponse:
      return decodeConnectResponse(frame);
    case MessageType.Disconnect:
      return decodeDisconnect(frame);
    case MessageType.Connector:
      return decodeConnector(frame);
    case MessageType.ConnectorResponse:
      return decodeConnectorResponse(frame);
    case MessageType.Log:
      return decodeLog(frame);
    case MessageType.Partners:
      return decodePartners(frame);
    default:
      return { type: 'unsupported', messageType: type, body: frame.subarray(HEADER_LENGTH) };
  }
}

function decodeAuth(frame: Buffer): AuthMessage {
  const token = readShortString(frame, HEADER_LENGTH, 'auth token');
  const flagAt = token.end;
  need(frame, flagAt + 1 + UUID_BYTE_LENGTH, 'auth message');
  return {
    type: 'auth',
    token: token.value,
    reverse: frame[flagAt] !== 0,
    instance: bytesToUuid(frame, flagAt + 1),
  };
}

/**
 * After a success byte Go ignores everything; linksocks.js puts the token it assigned there, so
 * a complete `TL token` is reported as `assignedToken` and anything else is ignored. After a
 * failure byte the error length is optional, but once present the text must be complete.
 */
function decodeAuthResponse(frame: Buffer): AuthResponseMessage {
  need(frame, HEADER_LENGTH + 1, 'auth response');
  const success = frame[2] !== 0;
  const hasMore = frame.length > HEADER_LENGTH + 1;
  if (success) {
    if (hasMore) {
      const tokenLength = frame[3]!;
      if (frame.length >= 4 + tokenLength) {
        return { type: 'authResponse', success, error: '', assignedToken: utf8(frame, 4, 4 + tokenLength) };
      }
    }
    return { type: 'authResponse', success, error: '' };
  }
  const error = hasMore ? readShortString(frame, 3, 'auth response error').value : '';
  return { type: 'authResponse', success, error };
}

function decodeConnect(frame: Buffer): ConnectMessage {
  need(frame, CHANNEL_AFTER_FLAG + UUID_BYTE_LENGTH, 'connect message');
  const protocol = wireProtocol(frame[2]!);
  const channelId = bytesToUuid(frame, CHANNEL_AFTER_FLAG);
  // Go reads an address only for TCP; UDP and unknown protocols stop after the channel id.
  if (protocol !== 'tcp') {
    const message: ConnectMessage = { type: 'connect', protocol, channelId, address: '', port: 0 };
    // Newer peers put a UDP Resume byte right after the channel id (NEWEST.md §1.3).
    if (protocol === 'udp' && isResumeByte(frame, CHANNEL_AFTER_FLAG + UUID_BYTE_LENGTH)) message.resume = true;
    return message;
  }
  const address = readShortString(frame, 19, 'tcp connect address', channelId);
  need(frame, address.end + 2, 'tcp connect port', channelId);
  const message: ConnectMessage = {
    type: 'connect',
    protocol,
    channelId,
    address: address.value,
    port: frame.readUInt16BE(address.end),
  };
  if (isResumeByte(frame, address.end + 2)) message.resume = true;
  return message;
}

/** "A byte is present and non-zero" is a Resume, as newer parsers read it. */
function isResumeByte(frame: Buffer, offset: number): boolean {
  return frame.length > offset && frame[offset] !== 0;
}

/**
 * The payload of an uncompressed Data message is a view into `frame` (no copy): the caller must
 * not reuse the input buffer while the payload is still needed. The UDP trailer is checked before
 * any gunzip work, so a malformed message costs nothing to reject.
 */
function decodeData(frame: Buffer, maxDecompressedSize: number): DataMessage {
  need(frame, CHANNEL_AFTER_FLAG + UUID_BYTE_LENGTH, 'data message');
  const channelId = bytesToUuid(frame, CHANNEL_AFTER_FLAG);
  need(frame, DATA_HEADER_LENGTH, 'data message header', channelId);
  const protocol = wireProtocol(frame[2]!);
  const compression = frame[19]!;
  const payloadEnd = DATA_HEADER_LENGTH + frame.readUInt32BE(20);
  need(frame, payloadEnd, 'data payload', channelId);

  let address = '';
  let port = 0;
  let targetAddr = '';
  let targetPort = 0;
  /** Where an optional sequence would start: after the payload (TCP) or the UDP trailer. */
  let trailerEnd = payloadEnd;
  if (protocol === 'udp') {
    const source = readShortString(frame, payloadEnd, 'udp data address', channelId);
    need(frame, source.end + 2, 'udp data port', channelId);
    const target = readShortString(frame, source.end + 2, 'udp data target address', channelId);
    need(frame, target.end + 2, 'udp data target port', channelId);
    address = source.value;
    port = frame.readUInt16BE(source.end);
    targetAddr = target.value;
    targetPort = frame.readUInt16BE(target.end);
    trailerEnd = target.end + 2;
  }

  const wirePayload = frame.subarray(DATA_HEADER_LENGTH, payloadEnd);
  // Go gunzips only for compression byte 1; any other value is taken raw and reported as is.
  const data =
    compression === Compression.Gzip ? gunzipPayload(wirePayload, maxDecompressedSize, channelId) : wirePayload;
  const message: DataMessage = { type: 'data', protocol, channelId, compression, data, address, port, targetAddr, targetPort };
  // Newer peers may append `Sequence u64be`; 0 means "no sequence" (NEWEST.md §1.3).
  if (frame.length >= trailerEnd + 8) {
    const sequence = frame.readBigUInt64BE(trailerEnd);
    if (sequence !== 0n) message.sequence = sequence;
  }
  return message;
}

/** Success byte before the channel id; a failure must carry the error length (Go rejects it otherwise). */
function decodeConnectResponse(frame: Buffer): ConnectResponseMessage {
  need(frame, CHANNEL_AFTER_FLAG + UUID_BYTE_LENGTH, 'connect response');
  const success = frame[2] !== 0;
  const channelId = bytesToUuid(frame, CHANNEL_AFTER_FLAG);
  const error = success ? '' : readShortString(frame, 19, 'connect response error', channelId).value;
  return { type: 'connectResponse', success, channelId, error };
}

/** The error part is optional; EL = 0 means no error. */
function decodeDisconnect(frame: Buffer): DisconnectMessage {
  need(frame, CHANNEL_AT_BODY + UUID_BYTE_LENGTH, 'disconnect message');
  const channelId = bytesToUuid(frame, CHANNEL_AT_BODY);
  const error = frame.length > 18 ? readShortString(frame, 18, 'disconnect error', channelId).value : '';
  return { type: 'disconnect', channelId, error };
}

function decodeConnector(frame: Buffer): ConnectorMessage {
  need(frame, CHANNEL_AT_BODY + UUID_BYTE_LENGTH, 'connector message');
  const channelId = bytesToUuid(frame, CHANNEL_AT_BODY);
  const token = readShortString(frame, 18, 'connector token', channelId);
  need(frame, token.end + 1, 'connector operation', channelId);
  const operationByte = frame[token.end]!;
  if (operationByte !== 1 && operationByte !== 2) {
    fail('ERR_LINKSOCKS_BAD_FIELD', `invalid connector operation ${operationByte}`, channelId);
  }
  return {
    type: 'connector',
    channelId,
    connectorToken: token.value,
    operation: operationByte === 1 ? 'add' : 'remove',
  };
}

/** Channel id before the success byte; failure requires EL, success has an optional token. */
function decodeConnectorResponse(frame: Buffer): ConnectorResponseMessage {
  need(frame, CHANNEL_AT_BODY + UUID_BYTE_LENGTH, 'connector response');
  const channelId = bytesToUuid(frame, CHANNEL_AT_BODY);
  need(frame, CHANNEL_AT_BODY + UUID_BYTE_LENGTH + 1, 'connector response success byte', channelId);
  const success = frame[18] !== 0;
  if (!success) {
    const error = readShortString(frame, 19, 'connector response error', channelId).value;
    return { type: 'connectorResponse', success, channelId, error, connectorToken: '' };
  }
  const connectorToken =
    frame.length > 19 ? readShortString(frame, 19, 'connector response token', channelId).value : '';
  return { type: 'connectorResponse', success, channelId, error: '', connectorToken };
}

function decodeLog(frame: Buffer): LogMessage {
  const values = unmarshalObjectLikeGo(jsonText(frame, 'log'), ['level', 'msg'], 'log');
  return { type: 'log', level: stringField(values, 'level', 'log'), msg: stringField(values, 'msg', 'log') };
}

function decodePartners(frame: Buffer): PartnersMessage {
  const values = unmarshalObjectLikeGo(jsonText(frame, 'partners'), ['count'], 'partners');
  return { type: 'partners', count: integerField(values, 'count', 'partners') };
}

/** The `N(4) json(N)` envelope of Log and Partners. */
function jsonText(frame: Buffer, what: string): string {
  need(frame, JSON_BODY_OFFSET, `${what} message`);
  const end = JSON_BODY_OFFSET + frame.readUInt32BE(JSON_LENGTH_OFFSET);
  need(frame, end, `${what} JSON body`);
  return utf8(frame, JSON_BODY_OFFSET, end);
}

function wireProtocol(byte: number): WireProtocol {
  if (byte === PROTOCOL_BYTE_TCP) return 'tcp';
  if (byte === PROTOCOL_BYTE_UDP) return 'udp';
  return 'unknown';
}

interface ShortString {
  value: string;
  /** Offset just after the string. */
  end: number;
}

/** A `L s(L)` field at `offset`. */
function readShortString(frame: Buffer, offset: number, what: string, channelId?: string): ShortString {
  need(frame, offset + 1, `${what} length`, channelId);
  const end = offset + 1 + frame[offset]!;
  need(frame, end, what, channelId);
  return { value: utf8(frame, offset + 1, end), end };
}

/**
 * Go keeps strings as raw bytes; here invalid UTF-8 becomes U+FFFD. Only a peer sending invalid
 * UTF-8 could notice, and no LinkSocks implementation produces it.
 */
function utf8(frame: Buffer, start: number, end: number): string {
  return start === end ? '' : frame.toString('utf8', start, end);
}

function need(frame: Buffer, length: number, what: string, channelId?: string): void {
  if (frame.length < length) {
    fail('ERR_LINKSOCKS_TRUNCATED', `truncated ${what}: need ${length} bytes, have ${frame.length}`, channelId);
  }
}

function fail(code: ProtocolErrorCode, message: string, channelId?: string): never {
  throw new ProtocolError(code, message, channelId);
}

function asBuffer(bytes: Uint8Array): Buffer {
  if (!(bytes instanceof Uint8Array)) fail('ERR_LINKSOCKS_BAD_FIELD', 'message is not a byte array');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function hexByte(value: number): string {
  return value.toString(16).padStart(2, '0');
}

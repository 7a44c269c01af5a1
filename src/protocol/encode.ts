/**
 * Typed message → one WebSocket binary message (PROTOCOL.md §3). Every encoder sizes the frame
 * first and allocates it once; the Data payload is copied exactly once.
 */
import { ProtocolError } from './errors.js';
import { gzipPayload } from './gzip.js';
import { marshalLikeGo } from './go-json.js';
import {
  errorTextBytes,
  shortStringLength,
  writeShortBytes,
  writeShortString,
} from './short-string.js';
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
  type MessageTypeByte,
  type OutgoingMessage,
  type PartnersMessage,
  type WireProtocol,
} from './types.js';
import { UUID_BYTE_LENGTH, writeUuid } from './uuid.js';
import {
  DATA_HEADER_LENGTH,
  HEADER_LENGTH,
  MAX_ENCODED_MESSAGE_SIZE,
  PROTOCOL_BYTE_TCP,
  PROTOCOL_BYTE_UDP,
} from './wire.js';

export function encodeMessage(msg: OutgoingMessage): Buffer {
  switch (msg.type) {
    case 'auth':
      return encodeAuth(msg);
    case 'authResponse':
      return encodeAuthResponse(msg);
    case 'connect':
      return encodeConnect(msg);
    case 'data':
      return encodeData(msg);
    case 'connectResponse':
      return encodeConnectResponse(msg);
    case 'disconnect':
      return encodeDisconnect(msg);
    case 'connector':
      return encodeConnector(msg);
    case 'connectorResponse':
      return encodeConnectorResponse(msg);
    case 'log':
      return encodeLog(msg);
    case 'partners':
      return encodePartners(msg);
    default: {
      const unexpected: never = msg;
      throw new ProtocolError(
        'ERR_LINKSOCKS_BAD_FIELD',
        `cannot encode message type ${String((unexpected as { type?: unknown }).type)}`,
      );
    }
  }
}

/**
 * The hot path: an uncompressed TCP Data message. One allocation for the whole frame, one copy of
 * the payload into it.
 */
export function encodeTcpData(channelId: string, payload: Uint8Array): Buffer {
  const frame = allocateFrame(MessageType.Data, DATA_HEADER_LENGTH + payload.length);
  frame[2] = PROTOCOL_BYTE_TCP;
  writeUuid(frame, 3, channelId);
  frame[19] = Compression.None;
  frame.writeUInt32BE(payload.length, 20);
  frame.set(payload, DATA_HEADER_LENGTH);
  return frame;
}

/**
 * The Data header alone (24 bytes) written at `offset` of `target`, for senders that put the
 * payload on the wire separately instead of copying it behind the header.
 */
export function writeTcpDataHeader(target: Buffer, offset: number, channelId: string, payloadLength: number): void {
  target[offset] = PROTOCOL_VERSION;
  target[offset + 1] = MessageType.Data;
  target[offset + 2] = PROTOCOL_BYTE_TCP;
  writeUuid(target, offset + 3, channelId);
  target[offset + 19] = Compression.None;
  target.writeUInt32BE(payloadLength, offset + 20);
}

function encodeAuth(msg: AuthMessage): Buffer {
  const tokenLength = shortStringLength(msg.token, 'auth token');
  const frame = allocateFrame(MessageType.Auth, HEADER_LENGTH + 1 + tokenLength + 1 + UUID_BYTE_LENGTH);
  let offset = writeShortString(frame, HEADER_LENGTH, msg.token, tokenLength);
  frame[offset++] = msg.reverse ? 1 : 0;
  writeUuid(frame, offset, msg.instance);
  return frame;
}

/**
 * Success is exactly `01 02 01`: the token linksocks.js appends is not sent (PROTOCOL.md §3.2), so
 * `assignedToken` is ignored here. Failure always carries the error length, even when it is 0.
 */
function encodeAuthResponse(msg: AuthResponseMessage): Buffer {
  if (msg.success) {
    const frame = allocateFrame(MessageType.AuthResponse, HEADER_LENGTH + 1);
    frame[2] = 1;
    return frame;
  }
  const error = errorTextBytes(msg.error);
  const frame = allocateFrame(MessageType.AuthResponse, HEADER_LENGTH + 2 + error.length);
  frame[2] = 0;
  writeShortBytes(frame, 3, error);
  return frame;
}

function encodeConnect(msg: ConnectMessage): Buffer {
  const protocolByte = wireProtocolByte(msg.protocol);
  // The Resume byte exists only when true (NEWEST.md §1.3); a plain Connect is v1.7.15's.
  const resumeLength = msg.resume === true ? 1 : 0;
  if (protocolByte === PROTOCOL_BYTE_UDP) {
    // UDP ASSOCIATE carries no address: targets travel in each Data message.
    const frame = allocateFrame(MessageType.Connect, HEADER_LENGTH + 1 + UUID_BYTE_LENGTH + resumeLength);
    frame[2] = protocolByte;
    writeUuid(frame, 3, msg.channelId);
    if (resumeLength > 0) frame[19] = 1;
    return frame;
  }
  const addressLength = shortStringLength(msg.address, 'connect address');
  const port = checkedPort(msg.port, 'connect port');
  const frame = allocateFrame(
    MessageType.Connect,
    HEADER_LENGTH + 1 + UUID_BYTE_LENGTH + 1 + addressLength + 2 + resumeLength,
  );
  frame[2] = protocolByte;
  writeUuid(frame, 3, msg.channelId);
  const offset = writeShortString(frame, 19, msg.address, addressLength);
  frame.writeUInt16BE(port, offset);
  if (resumeLength > 0) frame[offset + 2] = 1;
  return frame;
}

/** Writes our own format: a decoded `sequence` is dropped (NEWEST.md §6(a)3). */
function encodeData(msg: DataMessage): Buffer {
  const protocolByte = wireProtocolByte(msg.protocol);
  const compression = checkedByte(msg.compression, 'data compression');
  if (!(msg.data instanceof Uint8Array)) {
    throw new ProtocolError('ERR_LINKSOCKS_BAD_FIELD', 'data payload must be a Buffer or Uint8Array');
  }
  if (protocolByte === PROTOCOL_BYTE_TCP && compression === Compression.None) {
    return encodeTcpData(msg.channelId, msg.data);
  }
  const payload = compression === Compression.Gzip ? gzipPayload(msg.data) : msg.data;

  let trailerLength = 0;
  let addressLength = 0;
  let targetLength = 0;
  let port = 0;
  let targetPort = 0;
  if (protocolByte === PROTOCOL_BYTE_UDP) {
    addressLength = shortStringLength(msg.address, 'udp data address');
    targetLength = shortStringLength(msg.targetAddr, 'udp data target address');
    port = checkedPort(msg.port, 'udp data port');
    targetPort = checkedPort(msg.targetPort, 'udp data target port');
    trailerLength = 1 + addressLength + 2 + 1 + targetLength + 2;
  }

  const frame = allocateFrame(MessageType.Data, DATA_HEADER_LENGTH + payload.length + trailerLength);
  frame[2] = protocolByte;
  writeUuid(frame, 3, msg.channelId);
  frame[19] = compression;
  frame.writeUInt32BE(payload.length, 20);
  frame.set(payload, DATA_HEADER_LENGTH);
  if (protocolByte === PROTOCOL_BYTE_UDP) {
    let offset = writeShortString(frame, DATA_HEADER_LENGTH + payload.length, msg.address, addressLength);
    offset = frame.writeUInt16BE(port, offset);
    offset = writeShortString(frame, offset, msg.targetAddr, targetLength);
    frame.writeUInt16BE(targetPort, offset);
  }
  return frame;
}

/** Success byte BEFORE the channel id (the reverse of ConnectorResponse); EL mandatory on failure. */
function encodeConnectResponse(msg: ConnectResponseMessage): Buffer {
  const error = msg.success ? undefined : errorTextBytes(msg.error);
  const frame = allocateFrame(
    MessageType.ConnectResponse,
    HEADER_LENGTH + 1 + UUID_BYTE_LENGTH + (error === undefined ? 0 : 1 + error.length),
  );
  frame[2] = msg.success ? 1 : 0;
  writeUuid(frame, 3, msg.channelId);
  if (error !== undefined) writeShortBytes(frame, 19, error);
  return frame;
}

/** Go appends the error only when it is non-empty. */
function encodeDisconnect(msg: DisconnectMessage): Buffer {
  const error = msg.error ? errorTextBytes(msg.error) : undefined;
  const frame = allocateFrame(
    MessageType.Disconnect,
    HEADER_LENGTH + UUID_BYTE_LENGTH + (error === undefined ? 0 : 1 + error.length),
  );
  writeUuid(frame, 2, msg.channelId);
  if (error !== undefined) writeShortBytes(frame, 18, error);
  return frame;
}

function encodeConnector(msg: ConnectorMessage): Buffer {
  const operationByte = connectorOperationByte(msg.operation);
  const tokenLength = shortStringLength(msg.connectorToken, 'connector token');
  const frame = allocateFrame(MessageType.Connector, HEADER_LENGTH + UUID_BYTE_LENGTH + 1 + tokenLength + 1);
  writeUuid(frame, 2, msg.channelId);
  const offset = writeShortString(frame, 18, msg.connectorToken, tokenLength);
  frame[offset] = operationByte;
  return frame;
}

/**
 * Channel id BEFORE the success byte. Success carries the connector token only when it is
 * non-empty; failure always carries the error length and never the token.
 */
function encodeConnectorResponse(msg: ConnectorResponseMessage): Buffer {
  if (msg.success) {
    const tokenLength = msg.connectorToken ? shortStringLength(msg.connectorToken, 'connector token') : 0;
    const frame = allocateFrame(
      MessageType.ConnectorResponse,
      HEADER_LENGTH + UUID_BYTE_LENGTH + 1 + (tokenLength > 0 ? 1 + tokenLength : 0),
    );
    writeUuid(frame, 2, msg.channelId);
    frame[18] = 1;
    if (tokenLength > 0) writeShortString(frame, 19, msg.connectorToken, tokenLength);
    return frame;
  }
  const error = errorTextBytes(msg.error);
  const frame = allocateFrame(MessageType.ConnectorResponse, HEADER_LENGTH + UUID_BYTE_LENGTH + 2 + error.length);
  writeUuid(frame, 2, msg.channelId);
  frame[18] = 0;
  writeShortBytes(frame, 19, error);
  return frame;
}

function encodeLog(msg: LogMessage): Buffer {
  if (typeof msg.level !== 'string' || typeof msg.msg !== 'string') {
    throw new ProtocolError('ERR_LINKSOCKS_BAD_FIELD', 'log level and msg must be strings');
  }
  return encodeJsonBody(MessageType.Log, marshalLikeGo({ level: msg.level, msg: msg.msg }));
}

function encodePartners(msg: PartnersMessage): Buffer {
  if (!Number.isSafeInteger(msg.count)) {
    throw new ProtocolError('ERR_LINKSOCKS_BAD_FIELD', `partners count must be an integer, got ${msg.count}`);
  }
  return encodeJsonBody(MessageType.Partners, marshalLikeGo({ count: msg.count }));
}

function encodeJsonBody(type: MessageTypeByte, json: string): Buffer {
  const jsonLength = Buffer.byteLength(json, 'utf8');
  const frame = allocateFrame(type, HEADER_LENGTH + 4 + jsonLength);
  frame.writeUInt32BE(jsonLength, 2);
  frame.write(json, 6, jsonLength, 'utf8');
  return frame;
}

/**
 * Allocates a frame whose every byte the caller overwrites (hence allocUnsafe) and writes the
 * 2-byte header. Go's reader refuses WebSocket messages over 32 MiB and drops the whole
 * connection, so such a frame is refused here instead.
 */
function allocateFrame(type: MessageTypeByte, totalLength: number): Buffer {
  // PROTOCOL.md §6 says "never send ≥ 32 MiB"; staying one byte under gorilla's limit costs nothing.
  if (totalLength >= MAX_ENCODED_MESSAGE_SIZE) {
    throw new ProtocolError(
      'ERR_LINKSOCKS_TOO_LARGE',
      `encoded message of ${totalLength} bytes exceeds the ${MAX_ENCODED_MESSAGE_SIZE}-byte limit of Go peers`,
    );
  }
  const frame = Buffer.allocUnsafe(totalLength);
  frame[0] = PROTOCOL_VERSION;
  frame[1] = type;
  return frame;
}

function wireProtocolByte(protocol: WireProtocol): number {
  if (protocol === 'tcp') return PROTOCOL_BYTE_TCP;
  if (protocol === 'udp') return PROTOCOL_BYTE_UDP;
  // Go peers parse other bytes and then drop the channel without a reply; never send one.
  throw new ProtocolError('ERR_LINKSOCKS_BAD_FIELD', `cannot encode channel protocol ${String(protocol)}`);
}

function connectorOperationByte(operation: ConnectorMessage['operation']): number {
  if (operation === 'add') return 1;
  if (operation === 'remove') return 2;
  throw new ProtocolError('ERR_LINKSOCKS_BAD_FIELD', `unknown connector operation ${String(operation)}`);
}

function checkedPort(port: number, fieldName: string): number {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new ProtocolError('ERR_LINKSOCKS_BAD_FIELD', `${fieldName} must be an integer 0-65535, got ${port}`);
  }
  return port;
}

function checkedByte(value: number, fieldName: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) {
    throw new ProtocolError('ERR_LINKSOCKS_BAD_FIELD', `${fieldName} must be an integer 0-255, got ${value}`);
  }
  return value;
}

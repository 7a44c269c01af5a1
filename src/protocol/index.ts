/** LinkSocks binary message codec (PROTOCOL.md): typed messages in, WebSocket payloads out, and back. */
export { encodeMessage, encodeTcpData, writeTcpDataHeader } from './encode.js';
export { decodeMessage, type DecodeOptions } from './decode.js';
export { ProtocolError, type ProtocolErrorCode } from './errors.js';
export { DEFAULT_MAX_DECOMPRESSED_SIZE, shouldCompress } from './gzip.js';
export { MAX_SHORT_STRING_BYTES } from './short-string.js';
export { bytesToUuid, uuidToBytes } from './uuid.js';
export { DATA_HEADER_LENGTH, MAX_ENCODED_MESSAGE_SIZE } from './wire.js';
export * from './types.js';

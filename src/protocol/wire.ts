/** Fixed sizes and byte values of the wire format shared by the encoder and the decoder. */

/** Version + type. */
export const HEADER_LENGTH = 2;

/** Version, type, protocol, channel id, compression, 4-byte length (PROTOCOL.md §3.5). */
export const DATA_HEADER_LENGTH = 24;

export const PROTOCOL_BYTE_TCP = 0x01;
export const PROTOCOL_BYTE_UDP = 0x02;

/**
 * The Go reader's WebSocket message limit (conn.go MaxWebSocketMessageSize). Sending more makes a
 * Go peer drop the whole connection, so the encoder refuses it.
 */
export const MAX_ENCODED_MESSAGE_SIZE = 32 * 1024 * 1024;

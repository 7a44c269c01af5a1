/**
 * Loads the Go-generated wire vectors (../shared/vectors, see its README) and maps their Go
 * field names onto this codec's message objects.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Message, OutgoingMessage, WireProtocol } from '../../src/protocol/index.js';

export const VECTORS_PATH = fileURLToPath(new URL('../../../shared/vectors/vectors.jsonl', import.meta.url));
export const TRANSCRIPTS_DIR = fileURLToPath(new URL('../../../shared/transcripts/', import.meta.url));

export interface ValidVector {
  name: string;
  type: string;
  fields: Record<string, unknown>;
  hex?: string;
  parsed?: Record<string, unknown>;
  parse_only?: boolean;
  note?: string;
  /** Only for the large vector whose full frame is left out of the file. */
  hex_prefix?: string;
  wire_len?: number;
  wire_sha256?: string;
}

export interface InvalidVector {
  name: string;
  hex: string;
  error: string;
}

export interface VectorFile {
  valid: ValidVector[];
  invalid: InvalidVector[];
}

/** Undefined when the shared vectors are not checked out next to the project. */
export function loadVectors(): VectorFile | undefined {
  if (!existsSync(VECTORS_PATH)) return undefined;
  const valid: ValidVector[] = [];
  const invalid: InvalidVector[] = [];
  for (const line of readFileSync(VECTORS_PATH, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    const entry = JSON.parse(line) as Record<string, unknown>;
    if ('meta' in entry) continue;
    if ('error' in entry) invalid.push(entry as unknown as InvalidVector);
    else valid.push(entry as unknown as ValidVector);
  }
  return { valid, invalid };
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** `data` as hex, or the `data_repeat` unit repeated `count` times. */
function vectorPayload(fields: Record<string, unknown>): Buffer {
  const repeat = fields['data_repeat'] as { unit_hex: string; count: number } | undefined;
  if (repeat !== undefined) {
    const unit = Buffer.from(repeat.unit_hex, 'hex');
    return Buffer.alloc(unit.length * repeat.count, unit);
  }
  return Buffer.from(String(fields['data'] ?? ''), 'hex');
}

/** Go writes an unknown Connect/Data protocol byte as the empty string. */
function protocolOf(goValue: unknown): WireProtocol {
  return goValue === 'tcp' || goValue === 'udp' ? goValue : 'unknown';
}

const str = (value: unknown): string => String(value ?? '');
const num = (value: unknown): number => Number(value ?? 0);
const bool = (value: unknown): boolean => value === true;

/** Go struct name + Go JSON fields → our message object. */
export function toMessage(goType: string, f: Record<string, unknown>): OutgoingMessage {
  switch (goType) {
    case 'AuthMessage':
      return { type: 'auth', token: str(f['token']), reverse: bool(f['reverse']), instance: str(f['instance']) };
    case 'AuthResponseMessage':
      return { type: 'authResponse', success: bool(f['success']), error: str(f['error']) };
    case 'ConnectMessage':
      return {
        type: 'connect',
        protocol: protocolOf(f['protocol']),
        channelId: str(f['channel_id']),
        address: str(f['address']),
        port: num(f['port']),
      };
    case 'DataMessage':
      return {
        type: 'data',
        protocol: protocolOf(f['protocol']),
        channelId: str(f['channel_id']),
        compression: num(f['compression']),
        data: vectorPayload(f),
        address: str(f['address']),
        port: num(f['port']),
        targetAddr: str(f['target_addr']),
        targetPort: num(f['target_port']),
      };
    case 'ConnectResponseMessage':
      return { type: 'connectResponse', success: bool(f['success']), channelId: str(f['channel_id']), error: str(f['error']) };
    case 'DisconnectMessage':
      return { type: 'disconnect', channelId: str(f['channel_id']), error: str(f['error']) };
    case 'ConnectorMessage':
      return {
        type: 'connector',
        channelId: str(f['channel_id']),
        connectorToken: str(f['connector_token']),
        operation: f['operation'] === 'remove' ? 'remove' : 'add',
      };
    case 'ConnectorResponseMessage':
      return {
        type: 'connectorResponse',
        success: bool(f['success']),
        channelId: str(f['channel_id']),
        error: str(f['error']),
        connectorToken: str(f['connector_token']),
      };
    case 'LogMessage':
      return { type: 'log', level: str(f['level']), msg: str(f['msg']) };
    case 'PartnersMessage':
      return { type: 'partners', count: num(f['count']) };
    default:
      throw new Error(`vector has unknown Go type ${goType}`);
  }
}

/** A deep-equal friendly copy: Buffers become hex strings (a view and a copy compare the same). */
export function comparable(message: Message): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...message };
  for (const [key, value] of Object.entries(copy)) {
    if (Buffer.isBuffer(value)) copy[key] = value.toString('hex');
  }
  return copy;
}

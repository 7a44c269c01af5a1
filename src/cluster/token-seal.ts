/**
 * Sealing of the secrets the cluster keeps in Redis (tokens, SOCKS passwords): AES-256-GCM under a
 * key derived from the cluster secret with HKDF-SHA256, so that reading Redis (or a dump of it)
 * does not let anyone authenticate. Each sealed value is bound to the record it belongs to (the
 * token's SHA-256 hex as associated data): a sealed value copied into another record does not open.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Fixed salt and context: a different secret, not a different salt, separates clusters. */
const SALT = 'linksocks-ts cluster';
const INFO = 'token store v1';

export class TokenSeal {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), SALT, INFO, 32));
  }

  /** base64 of IV ‖ ciphertext ‖ tag. */
  seal(plain: string, boundTo: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(boundTo, 'utf8'));
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
  }

  /** The plain text, or undefined when the value is malformed, tampered with or sealed under another secret. */
  open(sealed: string, boundTo: string): string | undefined {
    const raw = Buffer.from(sealed, 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(boundTo, 'utf8'));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}

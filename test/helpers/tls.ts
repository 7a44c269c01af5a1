// Self-signed certificates for TLS tests, made with the openssl command line in a temp directory.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface TestCertificate {
  cert: string;
  key: string;
}

/** A fresh self-signed certificate for 127.0.0.1 and localhost (valid one day). */
export async function makeSelfSignedCertificate(commonName = 'localhost'): Promise<TestCertificate> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'linksocks-tls-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    await new Promise<void>((resolve, reject) => {
      execFile(
        'openssl',
        [
          'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
          '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', `/CN=${commonName}`,
          '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
        ],
        (err, _stdout, stderr) => (err ? reject(new Error(`openssl failed: ${stderr}`)) : resolve()),
      );
    });
    return { cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

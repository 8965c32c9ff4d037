import { X509Certificate } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import type { Config } from '../config.ts'

/**
 * TLS for the HTTPS listener (P4.1). A configured certificate is used as is. Without one,
 * the first start makes a self-signed certificate for localhost in the data directory
 * (and a new one when it has expired), and the caller prints its SHA-256 fingerprint so
 * a client can pin it.
 */
export interface TlsMaterial {
  cert: string
  key: string
  fingerprint256: string
  generated: boolean
  certFile: string
}

export async function loadOrCreateCertificate(config: Pick<Config, 'tls' | 'dataDir'>): Promise<TlsMaterial> {
  if (config.tls.certFile !== undefined && config.tls.keyFile !== undefined) {
    const cert = readFileSync(config.tls.certFile, 'utf8')
    const key = readFileSync(config.tls.keyFile, 'utf8')
    return {
      cert,
      key,
      fingerprint256: new X509Certificate(cert).fingerprint256,
      generated: false,
      certFile: config.tls.certFile,
    }
  }
  const dir = path.join(config.dataDir, 'tls')
  const certFile = path.join(dir, 'selfsigned-cert.pem')
  const keyFile = path.join(dir, 'selfsigned-key.pem')
  if (existsSync(certFile) && existsSync(keyFile)) {
    const cert = readFileSync(certFile, 'utf8')
    const parsed = new X509Certificate(cert)
    if (new Date(parsed.validTo).getTime() > Date.now() + 86_400_000) {
      return {
        cert,
        key: readFileSync(keyFile, 'utf8'),
        fingerprint256: parsed.fingerprint256,
        generated: false,
        certFile,
      }
    }
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const notBefore = new Date(Date.now() - 60_000)
  // selfsigned is loaded only by a start that makes a certificate (a first start, an expired one).
  const { generate } = await import('selfsigned')
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: notBefore,
    notAfterDate: new Date(notBefore.getTime() + 397 * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  })
  writeFileSync(keyFile, pems.private, { mode: 0o600 })
  writeFileSync(certFile, pems.cert, { mode: 0o644 })
  return {
    cert: pems.cert,
    key: pems.private,
    fingerprint256: new X509Certificate(pems.cert).fingerprint256,
    generated: true,
    certFile,
  }
}

/** ECDHE with AEAD only for TLS 1.2; TLS 1.3 suites are all AEAD and stay at their defaults. */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':')

export function httpsOptions(material: TlsMaterial, minVersion: 'TLSv1.2' | 'TLSv1.3') {
  return { cert: material.cert, key: material.key, minVersion, ciphers: TLS12_CIPHERS, honorCipherOrder: true }
}

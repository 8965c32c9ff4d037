import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { loadConfig } from '../../src/config.ts'
import type { RootKeyProvider } from '../../src/crypto/providers/provider.ts'
import { buildVaultListener } from '../../src/http/vault-listener.ts'
import { httpsOptions, loadOrCreateCertificate } from '../../src/http/tls.ts'
import { createLogger } from '../../src/logger.ts'
import type { TestApp } from './app.ts'

export interface VaultListenerUnderTest {
  listener: FastifyInstance
  /** `https://localhost:<port>`: what VAULT_ADDR is set to. */
  address: string
  /** The listener's self-signed certificate, for VAULT_CACERT / a client's `ca`. */
  caFile: string
  close(): Promise<void>
}

/**
 * The Vault-compatible listener (src/http/vault-listener.ts) on a test app's modules, over
 * real HTTPS on a free loopback port with a certificate for localhost, as server.ts starts it.
 */
export async function startVaultListener(
  t: TestApp,
  rootKey: Pick<RootKeyProvider, 'sealed'>,
): Promise<VaultListenerUnderTest> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-vault-listener-'))
  const config = loadConfig({ CUSTODIAN_DATA_DIR: dataDir, CUSTODIAN_LOG_LEVEL: 'silent' })
  const tls = await loadOrCreateCertificate(config)
  const caFile = path.join(dataDir, 'ca.pem')
  writeFileSync(caFile, tls.cert)
  const listener = await buildVaultListener({
    config,
    logger: createLogger(config),
    modules: t.app.modules,
    rootKey,
    engine: t.engine,
    https: httpsOptions(tls, 'TLSv1.2'),
  })
  await listener.listen({ port: 0, host: '127.0.0.1' })
  const { port } = listener.server.address() as AddressInfo
  return { listener, address: `https://localhost:${port}`, caFile, close: () => listener.close() }
}

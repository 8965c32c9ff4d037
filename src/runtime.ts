import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import type { Config } from './config.ts'
import { openDatabase, type Database } from './db/connect.ts'
import { migrateToLatest } from './db/migrate.ts'
import { deriveKey, ed25519FromSeed, type Signer } from './crypto/keys.ts'
import { createLocalRootKey, loadLocalRootKey, RootKeyError } from './crypto/root-key.ts'
import { createLocalProvider } from './crypto/providers/local.ts'
import type { RootKeyProvider } from './crypto/providers/provider.ts'

/** What both the server and the CLI need: the database (migrated) and the service's keys. */
export interface Runtime {
  database: Database
  signer: Signer
  hmacKey: Buffer
  rootKey: RootKeyProvider
}

export async function openRuntime(config: Config, options: { createRootKey: boolean }): Promise<Runtime> {
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, poolSize: config.databasePoolSize })
  try {
    await migrateToLatest(database.kysely)
    if (!existsSync(config.rootKeyFile)) {
      const bootstrapped = (await database.kysely.selectFrom('orgs').select('id').limit(1).executeTakeFirst()) !== undefined
      if (bootstrapped) {
        // Data exists that was protected by a key we no longer have: never silently replace it.
        throw new RootKeyError(`root key file ${config.rootKeyFile} is missing but the database holds data; restore the key file`)
      }
      if (!options.createRootKey) throw new RootKeyError(`root key file ${config.rootKeyFile} does not exist; run \`custodian init\``)
      mkdirSync(path.dirname(config.rootKeyFile), { recursive: true, mode: 0o700 })
      createLocalRootKey(config.rootKeyFile)
    }
    const rootKey = loadLocalRootKey(config.rootKeyFile)
    return {
      database,
      signer: ed25519FromSeed(deriveKey(rootKey, 'audit-signing-v1')),
      hmacKey: deriveKey(rootKey, 'audit-hmac-v1'),
      rootKey: createLocalProvider(rootKey),
    }
  } catch (error) {
    await database.close()
    throw error
  }
}

import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { Engine } from '../../src/db/connect.ts'
import { PASSWORD } from './app.ts'
import { createTestDatabase, type TestDatabase } from './db.ts'
import { bootstrapOverHttps, httpsJson, spawnServer, type ServerProcess } from './process.ts'

/**
 * A real service process (`node src/main.ts`) on one engine — PGlite in a fresh data
 * directory, or this test file's own PostgreSQL database — reached as the SDK and the CLI
 * reach it: over HTTPS at 127.0.0.1, trusting the self-signed certificate it made (`ca`).
 * A customer org "Acme" with its owner, and service accounts: `app` (admin) and
 * `viewer` (viewer), each with an API token.
 */
export interface SdkWorld {
  server: ServerProcess
  engine: Engine
  url: string
  /** The service's self-signed certificate (PEM): what a client trusts as its CA. */
  ca: string
  caFile: string
  dataDir: string
  provider: { orgId: string; token: string }
  orgId: string
  ownerToken: string
  ownerId: string
  appToken: string
  viewerToken: string
  /** Another customer org, for cross-org checks. */
  other: { orgId: string; ownerToken: string }
  /** Stops the server and drops the PostgreSQL database. */
  stop(): Promise<void>
}

async function customerOrg(port: number, providerToken: string, name: string, ownerEmail: string) {
  const org = await httpsJson(port, 'POST', '/v1/orgs', { token: providerToken, body: { name, ownerEmail } })
  if (org.status !== 201) throw new Error(`org create failed: ${org.text}`)
  const owner = await httpsJson(port, 'POST', '/v1/invitations/accept', {
    body: { token: org.body.invitation.token, password: PASSWORD },
  })
  if (owner.status !== 201) throw new Error(`accept failed: ${owner.text}`)
  return { orgId: org.body.org.id as string, ownerToken: owner.body.apiToken as string, ownerId: owner.body.userId }
}

/** A service account with `role` in the org and an API token for it (90 days). */
export async function serviceAccountToken(
  port: number,
  orgId: string,
  ownerToken: string,
  name: string,
  role: string,
): Promise<string> {
  const account = await httpsJson(port, 'POST', `/v1/orgs/${orgId}/service-accounts`, {
    token: ownerToken,
    body: { name, role },
  })
  if (account.status !== 201) throw new Error(`service account failed: ${account.text}`)
  const token = await httpsJson(port, 'POST', `/v1/orgs/${orgId}/tokens`, {
    token: ownerToken,
    body: { name, expiresInDays: 90, serviceAccountId: account.body.id },
  })
  if (token.status !== 201) throw new Error(`token failed: ${token.text}`)
  return token.body.token as string
}

export async function startSdkWorld(engine: Engine, env: Record<string, string> = {}): Promise<SdkWorld> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-sdk-'))
  let db: TestDatabase | undefined
  if (engine === 'postgres') db = await createTestDatabase('postgres')
  // A first start on PGlite creates the embedded database: up to a minute on a busy machine.
  const server = await spawnServer(
    {
      CUSTODIAN_DATA_DIR: dataDir,
      CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS: '50',
      CUSTODIAN_AUTH_RATE_LIMIT: '1000',
      ...(db === undefined ? {} : { DATABASE_URL: db.url as string }),
      ...env,
    },
    180_000,
  )
  const stop = async () => {
    await server.stop()
    await db?.close()
  }
  try {
    const port = server.httpsPort
    const boot = await bootstrapOverHttps(port, server.bootstrapToken, { orgName: 'Provider' })
    if (boot.status !== 201) throw new Error(`bootstrap failed: ${boot.text}`)
    const providerToken = boot.body.apiToken as string
    const acme = await customerOrg(port, providerToken, 'Acme', 'owner@acme.test')
    const other = await customerOrg(port, providerToken, 'Other', 'owner@other.test')
    const caFile = path.join(dataDir, 'tls', 'selfsigned-cert.pem')
    return {
      server,
      engine,
      url: `https://127.0.0.1:${port}`,
      ca: readFileSync(caFile, 'utf8'),
      caFile,
      dataDir,
      provider: { orgId: boot.body.orgId, token: providerToken },
      orgId: acme.orgId,
      ownerToken: acme.ownerToken,
      ownerId: acme.ownerId,
      appToken: await serviceAccountToken(port, acme.orgId, acme.ownerToken, 'app', 'admin'),
      viewerToken: await serviceAccountToken(port, acme.orgId, acme.ownerToken, 'viewer', 'viewer'),
      other: { orgId: other.orgId, ownerToken: other.ownerToken },
      stop,
    }
  } catch (error) {
    await stop()
    throw error
  }
}

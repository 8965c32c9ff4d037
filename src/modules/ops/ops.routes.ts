import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { sql, type Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { pendingMigrations } from '../../db/migrate.ts'
import { autovacuumStatus } from '../../db/maintenance.ts'
import type { Engine } from '../../db/connect.ts'

const tags = ['operations']
const Check = Type.Union([Type.Literal('ok'), Type.String()])
const Readiness = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  checks: Type.Object({ database: Check, migrations: Check, keys: Check }),
  /** Advice that does not make the service unready: whether autovacuum keeps the database healthy. */
  details: Type.Object({ autovacuum: Check }),
})

/**
 * Liveness says the process answers; readiness says it can serve: the database answers
 * and accepts writes (not a standby), its schema is current, and the keys are loaded. Neither reveals anything about tenants.
 */
export function opsRoutes(deps: {
  db: Kysely<DB>
  engine: Engine
  keysLoaded: () => boolean
}): FastifyPluginAsyncTypebox {
  const { db, engine, keysLoaded } = deps
  return async (app) => {
    app.get('/healthz', {
      config: { access: { public: true } },
      schema: { tags, summary: 'Liveness', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
      handler: async () => ({ status: 'ok' as const }),
    })

    app.get('/readyz', {
      config: { access: { public: true } },
      schema: {
        tags,
        summary: 'Readiness: database reachable and writable, migrations current, keys loaded',
        response: { 200: Readiness, 503: Readiness },
      },
      handler: async (_request, reply) => {
        const checks = { database: 'ok', migrations: 'ok', keys: keysLoaded() ? 'ok' : 'sealed' }
        const details = { autovacuum: 'unknown' }
        try {
          // A standby answers SELECT 1 too: one that refuses writes (in recovery, or
          // default_transaction_read_only) cannot serve this service, so it is not ready.
          const readOnly = await sql<{
            read_only: string
          }>`SELECT current_setting('transaction_read_only') AS read_only`.execute(db)
          if (readOnly.rows[0]?.read_only !== 'off') checks.database = 'read_only'
          details.autovacuum = await autovacuumStatus(db, engine)
          const pending = await pendingMigrations(db)
          if (pending.length > 0) checks.migrations = `pending: ${pending.join(', ')}`
        } catch {
          checks.database = 'unreachable'
          checks.migrations = 'unknown'
        }
        const ready = Object.values(checks).every((c) => c === 'ok')
        return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks, details })
      },
    })
  }
}

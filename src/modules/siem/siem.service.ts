import { createPrivateKey, randomUUID, X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import { BY_NAME, inIndexOrder, newestFirst, pageOf, toPage, type Page, type PageRequest } from '../../db/page.ts'
import type { DB } from '../../db/schema.ts'
import { sqlState, UNIQUE_VIOLATION, withOrg, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { assertWithinOwn } from '../access/bounds.ts'
import { DestinationRefused, type DestinationGuard } from '../../http/outbound.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { StoredChainEvent } from '../audit/audit.format.ts'
import type { VaultService } from '../vault/vault.service.ts'
import { stringValue } from '../vault/vault.types.ts'
import { destinationOf } from './siem.delivery.ts'
import { isPrintUsAscii } from './siem.formats.ts'
import type { Sender } from './siem.send.ts'
import * as store from './siem.store.ts'
import type { SiemKind } from './siem.tables.ts'
import type {
  CreateInput,
  DeadLetterViewT,
  DestinationSettings,
  DestinationViewT,
  TestResultT,
  UpdateInput,
} from './siem.types.ts'

/**
 * SIEM destinations as the API manages them (docs/siem.md): create, change, remove,
 * pause, resume, skip a dead letter, test-send, and each one's lag. Every change is an
 * audit event in the change's transaction (fail closed), naming the destination by its
 * host only. A credential goes to the vault (`siem/<name>`, like a webhook's signing
 * secret) in the same transaction and is never answered, logged or audited.
 */
export interface SiemService {
  list(ctx: RequestContext, page: PageRequest): Promise<Page<DestinationViewT>>
  get(ctx: RequestContext, id: string): Promise<DestinationViewT>
  create(ctx: RequestContext, input: CreateInput): Promise<DestinationViewT>
  update(ctx: RequestContext, id: string, input: UpdateInput): Promise<DestinationViewT>
  remove(ctx: RequestContext, id: string): Promise<void>
  pause(ctx: RequestContext, id: string): Promise<DestinationViewT>
  /** Active again from the cursor; a stopped destination retries its dead-lettered batch. */
  resume(ctx: RequestContext, id: string): Promise<DestinationViewT>
  /** Skips the open dead letter's batch on purpose: the cursor moves past it, recorded and audited. */
  skip(ctx: RequestContext, id: string): Promise<DestinationViewT>
  deadLetters(ctx: RequestContext, id: string, page: PageRequest): Promise<Page<DeadLetterViewT>>
  /** Sends one synthetic event (seq 0, action `siem.test`); the cursor does not move. */
  test(ctx: RequestContext, id: string): Promise<TestResultT>
}

/** The settings each kind takes; any other is refused. */
const SETTINGS_OF: Record<SiemKind, readonly (keyof DestinationSettings)[]> = {
  jsonl: [],
  splunk_hec: ['index', 'source', 'sourcetype', 'host'],
  datadog: ['service', 'ddsource', 'ddtags', 'hostname'],
  syslog_tls: ['hostname', 'appName', 'facility', 'enterpriseId', 'caCertificate', 'serverName', 'clientCertificate'],
}
const NEWEST = newestFirst('created_at')

function invalid(path: string, message: string): AppError {
  return new AppError('VALIDATION_FAILED', message, { errors: [{ path, message }] })
}

export function createSiemService(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append' | 'chainedHeadSeq'>
  vault: () => Pick<VaultService, 'keepValue' | 'openCurrent' | 'removeIn'>
  guard: Pick<DestinationGuard, 'checkUrl' | 'resolveHost'>
  sender: Sender
  clock: Clock
}): SiemService {
  const { db, audit, clock } = deps

  /**
   * A destination streams the whole log out, from seq 1 by default: whoever points one
   * somewhere must be allowed to export the log itself (nothing derived exceeds its maker).
   */
  function mayStreamOut(ctx: RequestContext): void {
    assertWithinOwn(ctx.principal, ['audit:export'], 'a SIEM destination (it streams the audit log out)')
  }

  async function checkDestination(kind: SiemKind, url: string | null, host: string | null, port: number | null) {
    if (kind === 'syslog_tls') {
      if (url !== null) throw invalid('/body/url', 'syslog_tls takes host and port, not a url')
      if (host === null) throw invalid('/body/host', 'syslog_tls needs the receiver’s host')
      if (port === null) throw invalid('/body/port', 'syslog_tls needs the receiver’s port')
      if (!/^[A-Za-z0-9.-]+$/.test(host) && isIP(host) === 0)
        throw invalid('/body/host', 'a host name or an IP address, without scheme or port')
      try {
        await deps.guard.resolveHost(host)
      } catch (error) {
        if (!(error instanceof DestinationRefused)) throw error
        throw invalid('/body/host', `destination refused: ${error.message}`)
      }
      return
    }
    if (host !== null) throw invalid('/body/host', `${kind} takes a url, not a host`)
    if (port !== null) throw invalid('/body/port', `${kind} takes a url, not a port`)
    if (url === null) throw invalid('/body/url', `${kind} needs an https url`)
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw invalid('/body/url', 'not a URL')
    }
    if (parsed.protocol !== 'https:') throw invalid('/body/url', 'must be an https:// URL (P4.3)')
    if (parsed.username !== '' || parsed.password !== '' || parsed.search !== '' || parsed.hash !== '')
      throw invalid('/body/url', 'no credentials, query or fragment in the URL: put a credential in `credential`')
    if (kind !== 'jsonl' && parsed.pathname !== '/')
      throw invalid('/body/url', `the base URL only (scheme, host, port): the path of ${kind} is fixed`)
    try {
      await deps.guard.checkUrl(parsed)
    } catch (error) {
      if (!(error instanceof DestinationRefused)) throw error
      throw invalid('/body/url', `destination refused: ${error.message}`)
    }
  }

  /**
   * `credential`: whether the destination will have one, and its value when it is new (or
   * must be matched again with a new client certificate).
   */
  function checkSettings(
    kind: SiemKind,
    settings: DestinationSettings,
    credential: { present: boolean; value?: string | undefined },
  ): void {
    for (const key of Object.keys(settings))
      if (!SETTINGS_OF[kind].includes(key as keyof DestinationSettings))
        throw invalid(`/body/settings/${key}`, `not a setting of ${kind}`)
    if (kind === 'syslog_tls') {
      if (settings.hostname !== undefined && !isPrintUsAscii(settings.hostname, 255))
        throw invalid('/body/settings/hostname', 'printable ASCII without spaces (RFC 5424 HOSTNAME)')
      if (settings.appName !== undefined && !isPrintUsAscii(settings.appName, 48))
        throw invalid('/body/settings/appName', 'printable ASCII without spaces (RFC 5424 APP-NAME)')
      if (settings.serverName !== undefined && !/^[A-Za-z0-9.:-]+$/.test(settings.serverName))
        throw invalid('/body/settings/serverName', 'a host name or an IP address')
      if (settings.caCertificate !== undefined) certificate(settings.caCertificate, '/body/settings/caCertificate')
      const client =
        settings.clientCertificate === undefined
          ? undefined
          : certificate(settings.clientCertificate, '/body/settings/clientCertificate')
      if (client !== undefined && !credential.present)
        throw invalid('/body/credential', 'the client certificate’s private key (PEM) goes in `credential`')
      if (client === undefined && credential.present)
        throw invalid('/body/credential', 'syslog_tls takes a credential only as the key of settings.clientCertificate')
      if (client !== undefined && credential.value !== undefined) {
        let key: ReturnType<typeof createPrivateKey>
        try {
          key = createPrivateKey(credential.value)
        } catch {
          throw invalid('/body/credential', 'not a private key in PEM')
        }
        if (!client.checkPrivateKey(key))
          throw invalid('/body/credential', 'this key does not belong to settings.clientCertificate')
      }
      return
    }
    if ((kind === 'splunk_hec' || kind === 'datadog') && !credential.present)
      throw invalid('/body/credential', kind === 'splunk_hec' ? 'the HEC token is required' : 'the API key is required')
  }

  function certificate(pem: string, path: string): X509Certificate {
    try {
      return new X509Certificate(pem)
    } catch {
      throw invalid(path, 'not an X.509 certificate in PEM')
    }
  }

  async function find(trx: Trx, id: string, lock = false): Promise<store.DestinationRow> {
    const row = await store.findDestination(trx, id, lock)
    if (row === undefined) throw new AppError('NOT_FOUND', 'no such SIEM destination')
    return row
  }

  function deadLetterView(row: store.DeadLetterRow): DeadLetterViewT {
    return {
      id: row.id,
      fromSeq: Number(row.from_seq),
      toSeq: Number(row.to_seq),
      attempts: row.attempts,
      lastStatus: row.last_status,
      lastError: row.last_error,
      createdAt: row.created_at.toISOString(),
      resolution: row.resolution,
      resolvedAt: row.resolved_at?.toISOString() ?? null,
      resolvedBy: row.resolved_by,
    }
  }

  function view(row: store.DestinationRow, headSeq: number, open: store.DeadLetterRow | undefined): DestinationViewT {
    const now = clock().getTime()
    return {
      id: row.id,
      name: row.name,
      kind: row.kind,
      url: row.url,
      host: row.host,
      port: row.port,
      settings: row.settings,
      hasCredential: row.secret_id !== null,
      state: row.state,
      cursorSeq: Number(row.cursor_seq),
      deliveredEvents: Number(row.delivered_events),
      attempts: row.attempts,
      nextAttemptAt: row.state === 'active' && row.attempts > 0 ? row.next_attempt_at.toISOString() : null,
      lastAttemptAt: row.last_attempt_at?.toISOString() ?? null,
      lastDeliveredAt: row.last_delivered_at?.toISOString() ?? null,
      lastStatus: row.last_status,
      lastError: row.last_error,
      lag: {
        headSeq,
        events: Math.max(0, headSeq - Number(row.cursor_seq)),
        secondsSinceLastDelivery:
          row.last_delivered_at === null
            ? null
            : Math.max(0, Math.floor((now - row.last_delivered_at.getTime()) / 1000)),
        lastError: row.last_error,
      },
      deadLetter: open === undefined ? null : deadLetterView(open),
      createdAt: row.created_at.toISOString(),
      updatedAt: row.updated_at.toISOString(),
    }
  }

  async function viewIn(trx: Trx, orgId: string, row: store.DestinationRow): Promise<DestinationViewT> {
    return view(row, await audit.chainedHeadSeq(trx, orgId), await store.openDeadLetter(trx, row.id))
  }

  const record = (trx: Trx, ctx: RequestContext, action: string, id: string, details: Record<string, unknown>) =>
    audit.append(trx, {
      orgId: ctx.orgId,
      actor: actorOf(ctx.principal),
      action,
      target: { type: 'siem_destination', id },
      outcome: 'success',
      details,
      meta: ctx.meta,
    })
  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`

  async function setState(ctx: RequestContext, id: string, to: 'pause' | 'resume' | 'skip'): Promise<DestinationViewT> {
    return withOrg(db, ctx.orgId, async (trx) => {
      const row = await find(trx, id, true)
      const open = await store.openDeadLetter(trx, id)
      const now = clock()
      if (to === 'pause') {
        if (row.state === 'paused') throw new AppError('CONFLICT', 'this destination is paused already')
        await store.setState(trx, id, { state: 'paused', now })
        await record(trx, ctx, 'siem.destination.pause', id, { name: row.name })
      } else if (to === 'resume') {
        if (row.state === 'active') throw new AppError('CONFLICT', 'this destination is active already')
        if (open !== undefined) await store.resolveDeadLetter(trx, open.id, 'retried', by(ctx), now)
        await store.setState(trx, id, { state: 'active', now })
        await record(trx, ctx, 'siem.destination.resume', id, {
          name: row.name,
          fromSeq: Number(row.cursor_seq) + 1,
          ...(open === undefined ? {} : { retriedDeadLetter: open.id }),
        })
      } else {
        if (open === undefined) throw new AppError('CONFLICT', 'this destination has no dead letter to skip')
        await store.resolveDeadLetter(trx, open.id, 'skipped', by(ctx), now)
        await store.setState(trx, id, { state: 'active', now, cursorSeq: Number(open.to_seq) })
        await record(trx, ctx, 'siem.destination.skip', id, {
          name: row.name,
          deadLetter: open.id,
          fromSeq: Number(open.from_seq),
          toSeq: Number(open.to_seq),
        })
      }
      return viewIn(trx, ctx.orgId, await find(trx, id))
    })
  }

  return {
    async list(ctx, page) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const rows = await inIndexOrder(trx, () =>
          pageOf(trx.selectFrom('siem_destinations').selectAll(), BY_NAME, page).execute(),
        )
        const { items, nextCursor } = toPage(rows, BY_NAME, page.limit)
        const headSeq = await audit.chainedHeadSeq(trx, ctx.orgId)
        const ids = items.map((r) => r.id)
        const open =
          ids.length === 0
            ? []
            : await trx
                .selectFrom('siem_dead_letters')
                .selectAll()
                .where('destination_id', 'in', ids)
                .where('resolution', 'is', null)
                .execute()
        const byDestination = new Map(open.map((d) => [d.destination_id, d]))
        return { items: items.map((row) => view(row, headSeq, byDestination.get(row.id))), nextCursor }
      })
    },

    async get(ctx, id) {
      return withOrg(db, ctx.orgId, async (trx) => viewIn(trx, ctx.orgId, await find(trx, id)))
    },

    async create(ctx, input) {
      mayStreamOut(ctx)
      const settings = input.settings ?? {}
      const credential = input.credential ?? null
      await checkDestination(input.kind, input.url ?? null, input.host ?? null, input.port ?? null)
      checkSettings(input.kind, settings, { present: credential !== null, value: credential ?? undefined })
      try {
        return await withOrg(db, ctx.orgId, async (trx) => {
          const secretId =
            credential === null
              ? null
              : await deps.vault().keepValue(trx, ctx, {
                  name: `siem/${input.name}`,
                  description: `credential of the SIEM destination ${input.name}`,
                  value: credential,
                })
          const cursor = input.start === 'now' ? await audit.chainedHeadSeq(trx, ctx.orgId) : 0
          const row = await store.insertDestination(trx, {
            id: randomUUID(),
            org_id: ctx.orgId,
            name: input.name,
            kind: input.kind,
            url: input.url === undefined ? null : new URL(input.url).href,
            host: input.host ?? null,
            port: input.port ?? null,
            settings: JSON.stringify(settings),
            secret_id: secretId,
            cursor_seq: cursor,
            lease_token: null,
            leased_until: null,
            last_attempt_at: null,
            last_delivered_at: null,
            last_status: null,
            last_error: null,
            created_by: by(ctx),
          })
          await record(trx, ctx, 'siem.destination.create', row.id, {
            name: row.name,
            kind: row.kind,
            destination: destinationOf(row),
            fromSeq: cursor + 1,
          })
          return viewIn(trx, ctx.orgId, row)
        })
      } catch (error) {
        if (sqlState(error) === UNIQUE_VIOLATION || (error instanceof AppError && error.code === 'CONFLICT'))
          throw new AppError('CONFLICT', `a SIEM destination (or a secret) named siem/${input.name} exists`)
        throw error
      }
    },

    async update(ctx, id, input) {
      // Where the log goes, and whom the connection trusts: as adding a destination.
      if (
        input.url !== undefined ||
        input.host !== undefined ||
        input.port !== undefined ||
        input.settings !== undefined
      )
        mayStreamOut(ctx)
      const current = await withOrg(db, ctx.orgId, (trx) => find(trx, id))
      const url = input.url ?? current.url
      const host = input.host ?? current.host
      const port = input.port ?? current.port
      const settings = input.settings ?? current.settings
      await checkDestination(current.kind, url, host, port)
      // The credential as it will be: a new one is checked; the kept one is opened only when
      // a new client certificate must match it.
      const kept = input.credential === undefined && current.secret_id !== null
      const value =
        typeof input.credential === 'string'
          ? input.credential
          : kept && input.settings?.clientCertificate !== undefined
            ? stringValue(
                await withOrg(db, ctx.orgId, (trx) =>
                  deps.vault().openCurrent(trx, ctx.orgId, current.secret_id as string),
                ),
              )
            : undefined
      checkSettings(current.kind, settings, { present: kept || typeof input.credential === 'string', value })
      return withOrg(db, ctx.orgId, async (trx) => {
        const row = await find(trx, id, true)
        let secretId = row.secret_id
        if (input.credential === null && secretId !== null) {
          await deps.vault().removeIn(trx, ctx, secretId)
          secretId = null
        } else if (typeof input.credential === 'string') {
          secretId = await deps.vault().keepValue(trx, ctx, {
            ...(secretId === null ? {} : { secretId }),
            name: `siem/${row.name}`,
            description: `credential of the SIEM destination ${row.name}`,
            value: input.credential,
          })
        }
        const updated = await trx
          .updateTable('siem_destinations')
          .set({
            url: url === null ? null : new URL(url).href,
            host,
            port,
            settings: JSON.stringify(settings),
            secret_id: secretId,
            updated_at: clock(),
          })
          .where('id', '=', id)
          .returningAll()
          .executeTakeFirstOrThrow()
        await record(trx, ctx, 'siem.destination.update', id, {
          name: row.name,
          destination: destinationOf(updated),
          changed: Object.keys(input).sort(),
        })
        return viewIn(trx, ctx.orgId, updated)
      })
    },

    async remove(ctx, id) {
      await withOrg(db, ctx.orgId, async (trx) => {
        const row = await store.deleteDestination(trx, id)
        if (row === undefined) throw new AppError('NOT_FOUND', 'no such SIEM destination')
        if (row.secret_id !== null) await deps.vault().removeIn(trx, ctx, row.secret_id)
        await record(trx, ctx, 'siem.destination.remove', id, {
          name: row.name,
          kind: row.kind,
          cursorSeq: Number(row.cursor_seq),
        })
      })
    },

    pause: (ctx, id) => setState(ctx, id, 'pause'),
    resume: (ctx, id) => setState(ctx, id, 'resume'),
    skip: (ctx, id) => setState(ctx, id, 'skip'),

    async deadLetters(ctx, id, page) {
      return withOrg(db, ctx.orgId, async (trx) => {
        await find(trx, id)
        const rows = await inIndexOrder(trx, () =>
          pageOf(
            trx.selectFrom('siem_dead_letters').selectAll().where('destination_id', '=', id),
            NEWEST,
            page,
          ).execute(),
        )
        const { items, nextCursor } = toPage(rows, NEWEST, page.limit)
        return { items: items.map(deadLetterView), nextCursor }
      })
    },

    async test(ctx, id) {
      // The test is recorded, with the credential opened, before anything leaves (fail closed).
      const { row, credential } = await withOrg(db, ctx.orgId, async (trx) => {
        const row = await find(trx, id)
        const credential =
          row.secret_id === null
            ? undefined
            : stringValue(await deps.vault().openCurrent(trx, ctx.orgId, row.secret_id))
        await record(trx, ctx, 'siem.destination.test', id, { name: row.name, destination: destinationOf(row) })
        return { row, credential }
      })
      const now = clock().toISOString()
      const probe: StoredChainEvent = {
        event: {
          v: 1,
          org: ctx.orgId,
          seq: 0,
          id: randomUUID(),
          time: now,
          actor: actorOf(ctx.principal),
          action: 'siem.test',
          target: { type: 'siem_destination', id },
          outcome: 'success',
          ip: null,
          userAgent: null,
          requestId: ctx.meta.requestId,
          details: { test: true, name: row.name },
        },
        prevHash: '0'.repeat(64),
        hash: '0'.repeat(64),
      }
      const result = await deps.sender.send(
        {
          orgId: ctx.orgId,
          kind: row.kind,
          url: row.url,
          host: row.host,
          port: row.port,
          settings: row.settings,
          credential,
        },
        [probe],
        'test',
      )
      return { ok: result.error === null, status: result.status, error: result.error }
    },
  }
}

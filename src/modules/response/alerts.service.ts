import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import { newestFirst, pageOf, toPage, type Page, type PageRequest, inIndexOrder } from '../../db/page.ts'
import { withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { memberEmails } from '../../db/people.ts'
import { enqueue, membersWithRoles } from '../notify/notify.service.ts'
import { batchHistory } from './alert.history.ts'
import {
  ALERT_RULES,
  SIGNAL_RULES,
  type AlertRule,
  type ChainedEvent,
  type Firing,
  type RuleSettings,
} from './alert.rules.ts'
import type { Severity } from './response.tables.ts'
import { reservedFamily } from '../audit/app-events.schema.ts'

/**
 * Alerts (P5.3): the built-in rules run over each org's audit chain as it grows — a
 * cursor per org follows `seq`, so every chained event is evaluated once, in order,
 * within about a second of being chained (several processes share the work: the cursor
 * row is locked with SKIP LOCKED). Firings of one rule with one key within the dedupe
 * window are one alert whose occurrences grow. A new alert notifies the org's owners and
 * admins. Alerts are acknowledged, resolved, and can open an incident.
 */
export interface AlertView {
  id: string
  rule: string
  severity: Severity
  status: 'open' | 'acknowledged' | 'resolved'
  title: string
  details: Record<string, unknown>
  firstSeenAt: string
  lastSeenAt: string
  occurrences: number
  eventIds: string[]
  acknowledgedAt: string | null
  acknowledgedBy: string | null
  resolvedAt: string | null
  resolvedBy: string | null
  incidentId: string | null
  /**
   * The email of the person the alert is about (details.actor, or details.user), when a
   * member of the org (src/db/people.ts), for a page to name them; null otherwise.
   */
  actorEmail: string | null
  /** The title of the incident it opened (incidentId), for a link to name it. */
  incidentTitle: string | null
}

export interface RuleView extends RuleSettings {
  rule: string
  description: string
  severity: Severity
  source: 'default' | 'org'
}

export interface AlertsService {
  /** Most recently seen first, a page at a time (an alert seen again moves to the top). */
  list(ctx: RequestContext, page: PageRequest, status?: string): Promise<Page<AlertView>>
  get(ctx: RequestContext, id: string): Promise<AlertView>
  acknowledge(ctx: RequestContext, id: string): Promise<AlertView>
  resolve(ctx: RequestContext, id: string, note?: string): Promise<AlertView>
  rules(ctx: RequestContext): Promise<RuleView[]>
  setRule(ctx: RequestContext, rule: string, settings: RuleSettings): Promise<RuleView>
  /** The job: evaluates what was chained since the last pass; returns how many events. */
  evaluate(): Promise<number>
  /** The job: verifies every org's chain, alerting on a failure; returns how many failed. */
  verifyChains(): Promise<number>
  /** Raises a signal rule's alert in the caller's transaction (plan review, disclosure, breach clocks). */
  raiseIn(trx: Trx, orgId: string, rule: keyof typeof SIGNAL_RULES, firing: Firing): Promise<string | undefined>
  /** Links an alert to the incident it opened (in the caller's transaction). */
  linkIncidentIn(trx: Trx, alertId: string, incidentId: string): Promise<AlertView>
}

const BATCH = 500

interface Occurrence {
  firing: Firing
  at: Date
  eventId?: string | undefined
}
const NO_REQUEST = { requestId: null, ip: null, userAgent: null }
const ENGINE = { type: 'system' as const, id: 'alerts' }
const ALL_RULES: Record<string, { description: string; severity: Severity; defaults: RuleSettings }> = {
  ...Object.fromEntries(ALERT_RULES.map((r) => [r.name, r])),
  ...SIGNAL_RULES,
}

export function createAlertsService(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append' | 'verify'>
  clock: Clock
  /** The org's IANA time zone (identity's org setting), read in the org's transaction. */
  orgTimeZone: (trx: Trx, orgId: string) => Promise<string>
}): AlertsService {
  const { db, audit, clock } = deps
  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`

  function view(row: Awaited<ReturnType<typeof find>> & object): AlertView {
    return {
      id: row.id,
      rule: row.rule,
      severity: row.severity,
      status: row.status,
      title: row.title,
      details: row.details,
      firstSeenAt: row.first_seen_at.toISOString(),
      lastSeenAt: row.last_seen_at.toISOString(),
      occurrences: row.occurrences,
      eventIds: row.event_ids,
      acknowledgedAt: row.acknowledged_at?.toISOString() ?? null,
      acknowledgedBy: row.acknowledged_by,
      resolvedAt: row.resolved_at?.toISOString() ?? null,
      resolvedBy: row.resolved_by,
      incidentId: row.incident_id,
      actorEmail: null,
      incidentTitle: null,
    }
  }

  /** The user id an alert's details name: details.actor (a user's) or details.user. */
  function personOf(details: Record<string, unknown>): string | null {
    const actor = details.actor
    if (typeof actor === 'object' && actor !== null) {
      const { type, id } = actor as { type?: unknown; id?: unknown }
      return type === 'user' && typeof id === 'string' ? id : null
    }
    return typeof details.user === 'string' ? details.user : null
  }

  /**
   * Alerts of the caller's org with the people they are about named (members' emails only)
   * and the incidents they opened by title.
   */
  async function named(trx: Trx, orgId: string, alerts: AlertView[]): Promise<AlertView[]> {
    const emails = await memberEmails(
      trx,
      orgId,
      alerts.map((a) => personOf(a.details)),
    )
    const incidentIds = [...new Set(alerts.flatMap((a) => (a.incidentId === null ? [] : [a.incidentId])))]
    const titles = new Map(
      incidentIds.length === 0
        ? []
        : (await trx.selectFrom('incidents').select(['id', 'title']).where('id', 'in', incidentIds).execute()).map(
            (r) => [r.id, r.title],
          ),
    )
    return alerts.map((a) => {
      const person = personOf(a.details)
      return {
        ...a,
        actorEmail: person === null ? null : (emails[person.toLowerCase()] ?? null),
        incidentTitle: a.incidentId === null ? null : (titles.get(a.incidentId) ?? null),
      }
    })
  }

  function find(trx: Trx, id: string, lock = false) {
    const query = trx.selectFrom('alerts').selectAll().where('id', '=', id)
    return (lock ? query.forUpdate() : query).executeTakeFirst()
  }

  async function settingsOf(trx: Trx): Promise<Map<string, RuleView>> {
    const rows = await trx.selectFrom('alert_rule_settings').selectAll().execute()
    return new Map(
      Object.entries(ALL_RULES).map(([rule, def]) => {
        const own = rows.find((r) => r.rule === rule)
        const settings: RuleSettings =
          own === undefined
            ? def.defaults
            : {
                enabled: own.enabled,
                threshold: own.threshold,
                windowSeconds: own.window_seconds,
                dedupeSeconds: own.dedupe_seconds,
                ...(def.defaults.actions === undefined ? {} : { actions: own.actions ?? [] }),
              }
        return [
          rule,
          {
            rule,
            description: def.description,
            severity: def.severity,
            source: own === undefined ? 'default' : 'org',
            ...settings,
          },
        ]
      }),
    )
  }

  /**
   * Occurrences of one rule and key, in order: each joins the open alert seen within the
   * dedupe window (one update per alert, however many occurrences), or opens a new one.
   * Returns the id of the alert each occurrence went to.
   */
  async function raiseAll(
    trx: Trx,
    orgId: string,
    rule: string,
    severity: Severity,
    dedupeSeconds: number,
    occurrences: Occurrence[],
  ): Promise<string[]> {
    const ids: string[] = []
    let current:
      | { id: string; lastSeen: Date; eventIds: string[]; added: number; details: Record<string, unknown> }
      | undefined
    const flush = async () => {
      if (current === undefined || current.added === 0) return
      const { added, lastSeen, eventIds, details } = current
      await trx
        .updateTable('alerts')
        .set((eb) => ({
          occurrences: eb('occurrences', '+', added),
          last_seen_at: lastSeen,
          details: JSON.stringify(details),
          event_ids: eventIds,
        }))
        .where('id', '=', current.id)
        .execute()
    }
    for (const { firing, at, eventId } of occurrences) {
      if (current !== undefined && at.getTime() - current.lastSeen.getTime() <= dedupeSeconds * 1000) {
        current.added++
        if (at > current.lastSeen) current.lastSeen = at
        if (eventId !== undefined && current.eventIds.length < 100) current.eventIds.push(eventId)
        current.details = firing.details
        ids.push(current.id)
        continue
      }
      await flush()
      const open = await trx
        .selectFrom('alerts')
        .select(['id', 'event_ids'])
        .where('rule', '=', rule)
        .where('dedupe_key', '=', firing.key)
        .where('status', '<>', 'resolved')
        .where('last_seen_at', '>=', new Date(at.getTime() - dedupeSeconds * 1000))
        .orderBy('last_seen_at', 'desc')
        .forUpdate()
        .executeTakeFirst()
      if (open !== undefined) {
        current = { id: open.id, lastSeen: at, eventIds: [...open.event_ids], added: 1, details: firing.details }
        if (eventId !== undefined && current.eventIds.length < 100) current.eventIds.push(eventId)
      } else {
        const id = randomUUID()
        await trx
          .insertInto('alerts')
          .values({
            id,
            org_id: orgId,
            rule,
            severity,
            dedupe_key: firing.key,
            status: 'open',
            title: firing.title,
            details: JSON.stringify(firing.details),
            first_seen_at: at,
            last_seen_at: at,
            event_ids: eventId === undefined ? [] : [eventId],
            acknowledged_at: null,
            acknowledged_by: null,
            resolved_at: null,
            resolved_by: null,
            incident_id: null,
          })
          .execute()
        await audit.append(trx, {
          orgId,
          actor: ENGINE,
          action: 'alert.raise',
          target: { type: 'alert', id },
          outcome: 'success',
          details: { rule, severity, title: firing.title },
          meta: NO_REQUEST,
        })
        await enqueue(trx, await membersWithRoles(trx, ['owner', 'admin']), {
          orgId,
          kind: 'alert.raised',
          subject: `[${severity}] ${firing.title}`,
          // Words only: the rule's key and the alert's id stay in `data` for a program to read.
          body: `Custodian raised an alert: ${firing.title}. Review it and its audit events in Custodian.`,
          data: { alertId: id, rule, severity },
        })
        current = {
          id,
          lastSeen: at,
          eventIds: eventId === undefined ? [] : [eventId],
          added: 0,
          details: firing.details,
        }
      }
      ids.push(current.id)
    }
    await flush()
    return ids
  }

  async function raise(
    trx: Trx,
    orgId: string,
    rule: string,
    severity: Severity,
    dedupeSeconds: number,
    firing: Firing,
    at: Date,
  ): Promise<string> {
    return (await raiseAll(trx, orgId, rule, severity, dedupeSeconds, [{ firing, at }]))[0] as string
  }

  async function evaluateOrg(orgId: string): Promise<number> {
    return withOrg(db, orgId, async (trx) => {
      await sql`INSERT INTO alert_cursors (org_id) VALUES (${orgId}) ON CONFLICT DO NOTHING`.execute(trx)
      const cursor = await trx
        .selectFrom('alert_cursors')
        .select('last_seq')
        .forUpdate()
        .skipLocked()
        .executeTakeFirst()
      if (cursor === undefined) return 0 // another process is on it
      const rows = await trx
        .selectFrom('audit_chain as c')
        .innerJoin('audit_events as e', 'e.id', 'c.id')
        .selectAll('e')
        .select('c.seq')
        .where('c.org_id', '=', orgId)
        .where('c.seq', '>', cursor.last_seq)
        .orderBy('c.seq')
        .limit(BATCH)
        .execute()
      if (rows.length === 0) return 0
      const settings = await settingsOf(trx)
      const events: ChainedEvent[] = rows.map((row) => ({
        eventId: row.event_id,
        time: row.occurred_at,
        origin: row.origin,
        actorType: row.actor_type,
        actorId: row.actor_id,
        action: row.action,
        targetType: row.target_type,
        targetId: row.target_id,
        outcome: row.outcome,
        ip: row.ip,
        details: row.details,
      }))
      const org = { timeZone: await deps.orgTimeZone(trx, orgId) }
      const ask = batchHistory(trx, events, Number(rows[0]?.seq), org.timeZone)
      // Firings grouped by rule and key, in order: a burst is one alert update, not hundreds.
      const firings = new Map<string, { rule: AlertRule; dedupeSeconds: number; occurrences: Occurrence[] }>()
      for (const event of events) {
        for (const rule of ALERT_RULES) {
          const s = settings.get(rule.name) as RuleView
          if (!s.enabled) continue
          const firing = await rule.evaluate(event, s, ask, org)
          if (firing === null) continue
          const group = `${rule.name}\0${firing.key}`
          if (!firings.has(group)) firings.set(group, { rule, dedupeSeconds: s.dedupeSeconds, occurrences: [] })
          firings.get(group)?.occurrences.push({ firing, at: event.time, eventId: event.eventId })
        }
      }
      for (const { rule, dedupeSeconds, occurrences } of firings.values())
        await raiseAll(trx, orgId, rule.name, rule.severity, dedupeSeconds, occurrences)
      await trx
        .updateTable('alert_cursors')
        .set({ last_seq: Number(rows[rows.length - 1]?.seq), updated_at: new Date() })
        .execute()
      return rows.length
    })
  }

  async function changeStatus(
    ctx: RequestContext,
    id: string,
    to: 'acknowledged' | 'resolved',
    note?: string,
  ): Promise<AlertView> {
    return withOrg(db, ctx.orgId, async (trx) => {
      const row = await find(trx, id, true)
      if (row === undefined) throw new AppError('NOT_FOUND', 'no such alert')
      if (row.status === 'resolved' || row.status === to)
        throw new AppError('CONFLICT', `this alert is ${row.status} already`)
      const now = clock()
      await trx
        .updateTable('alerts')
        .set(
          to === 'acknowledged'
            ? { status: to, acknowledged_at: now, acknowledged_by: by(ctx) }
            : {
                status: to,
                resolved_at: now,
                resolved_by: by(ctx),
                ...(row.acknowledged_at === null ? { acknowledged_at: now, acknowledged_by: by(ctx) } : {}),
              },
        )
        .where('id', '=', id)
        .execute()
      await audit.append(trx, {
        orgId: ctx.orgId,
        actor: actorOf(ctx.principal),
        action: to === 'acknowledged' ? 'alert.acknowledge' : 'alert.resolve',
        target: { type: 'alert', id },
        outcome: 'success',
        details: { rule: row.rule, ...(note === undefined ? {} : { note }) },
        meta: ctx.meta,
      })
      const changed = view((await find(trx, id)) as NonNullable<Awaited<ReturnType<typeof find>>>)
      return (await named(trx, ctx.orgId, [changed]))[0] ?? changed
    })
  }

  return {
    async list(ctx, page, status) {
      const order = newestFirst('last_seen_at')
      return withOrg(db, ctx.orgId, async (trx) => {
        const q = trx.selectFrom('alerts').selectAll()
        const rows = await inIndexOrder(trx, () =>
          pageOf(status === undefined ? q : q.where('status', '=', status as 'open'), order, page).execute(),
        )
        const { items, nextCursor } = toPage(rows, order, page.limit)
        return { items: await named(trx, ctx.orgId, items.map(view)), nextCursor }
      })
    },

    async get(ctx, id) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const row = await find(trx, id)
        if (row === undefined) throw new AppError('NOT_FOUND', 'no such alert')
        const [one] = await named(trx, ctx.orgId, [view(row)])
        return one ?? view(row)
      })
    },

    acknowledge: (ctx, id) => changeStatus(ctx, id, 'acknowledged'),
    resolve: (ctx, id, note) => changeStatus(ctx, id, 'resolved', note),

    async rules(ctx) {
      return [...(await withOrg(db, ctx.orgId, settingsOf)).values()]
    },

    async setRule(ctx, rule, settings) {
      const def = ALL_RULES[rule]
      if (def === undefined) throw new AppError('NOT_FOUND', `no rule named ${rule}`)
      const watches = def.defaults.actions !== undefined
      if (settings.actions !== undefined && !watches)
        throw invalidActions(`${rule} does not watch application actions: only application_action takes actions`)
      const reserved = (settings.actions ?? []).find((a) => reservedFamily(a) !== undefined)
      if (reserved !== undefined)
        throw invalidActions(
          `${reserved} is in a family of Custodian’s own actions, which no application event can have`,
        )
      return withOrg(db, ctx.orgId, async (trx) => {
        const values = {
          enabled: settings.enabled,
          threshold: settings.threshold,
          window_seconds: settings.windowSeconds,
          dedupe_seconds: settings.dedupeSeconds,
          updated_by: by(ctx),
        }
        // `actions` omitted keeps the list (a form that changes only the threshold must not empty it).
        const actions = settings.actions === undefined ? {} : { actions: [...settings.actions] }
        await trx
          .insertInto('alert_rule_settings')
          .values({ org_id: ctx.orgId, rule, ...values, actions: watches ? (settings.actions ?? []) : null })
          .onConflict((oc) =>
            oc.columns(['org_id', 'rule']).doUpdateSet({ ...values, ...actions, updated_at: new Date() }),
          )
          .execute()
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'alert.rule.update',
          target: { type: 'alert_rule', id: rule },
          outcome: 'success',
          details: { ...settings },
          meta: ctx.meta,
        })
        return (await settingsOf(trx)).get(rule) as RuleView
      })
    },

    async evaluate() {
      // Which orgs have newly chained events spans tenants: owner connection to find them
      // (P8.1: not a refused org's).
      const refused = orgsNotServed(db)
      const served = refused.length > 0 ? sql`AND h.org_id NOT IN (${sql.join(refused)})` : sql``
      const orgs = await withOwner(db, (trx) =>
        sql<{
          org_id: string
        }>`SELECT h.org_id FROM audit_heads h LEFT JOIN alert_cursors c ON c.org_id = h.org_id WHERE h.seq > coalesce(c.last_seq, 0) ${served} LIMIT 200`.execute(
          trx,
        ),
      )
      let evaluated = 0
      for (const { org_id: orgId } of orgs.rows) evaluated += await evaluateOrg(orgId)
      return evaluated
    },

    async verifyChains() {
      const refused = orgsNotServed(db)
      const orgs = await withOwner(db, (trx) =>
        trx
          .selectFrom('audit_heads')
          .select('org_id')
          .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
          .execute(),
      )
      let failed = 0
      for (const { org_id: orgId } of orgs) {
        const result = await audit.verify(orgId)
        if (result.ok) continue
        failed++
        await withOrg(db, orgId, async (trx) => {
          const s = (await settingsOf(trx)).get('audit_integrity') as RuleView
          if (!s.enabled) return
          await raise(
            trx,
            orgId,
            'audit_integrity',
            'critical',
            s.dedupeSeconds,
            {
              key: 'chain',
              title: 'the audit chain failed verification',
              details: {
                problems: result.problems.slice(0, 20).map((p) => ({ kind: p.kind, seq: p.seq })),
                lastSeq: result.lastSeq,
              },
            },
            clock(),
          )
        })
      }
      return failed
    },

    async raiseIn(trx, orgId, rule, firing) {
      const s = (await settingsOf(trx)).get(rule) as RuleView
      if (!s.enabled) return undefined
      return raise(trx, orgId, rule, SIGNAL_RULES[rule]?.severity ?? 'medium', s.dedupeSeconds, firing, clock())
    },

    async linkIncidentIn(trx, alertId, incidentId) {
      await trx.updateTable('alerts').set({ incident_id: incidentId }).where('id', '=', alertId).execute()
      return view((await find(trx, alertId)) as NonNullable<Awaited<ReturnType<typeof find>>>)
    },
  }
}

function invalidActions(message: string): AppError {
  return new AppError('VALIDATION_FAILED', message, { errors: [{ path: '/body/actions', message }] })
}

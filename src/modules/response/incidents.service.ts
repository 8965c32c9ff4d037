import { randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import type { DB } from '../../db/schema.ts'
import { newestFirst, pageOf, toPage, type Page, type PageRequest, inIndexOrder } from '../../db/page.ts'
import { memberEmails } from '../../db/people.ts'
import { withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import { enqueue, membersWithRoles } from '../notify/notify.service.ts'
import type { AlertsService } from './alerts.service.ts'
import type { PlanService } from './plan.service.ts'
import type { IncidentStatus, PartyKind, Severity } from './response.tables.ts'
import { timeInWords } from '../../time-zone.ts'

/**
 * Incidents (P6.1, P6.3, P6.4): opened by hand or from an alert, of a type whose playbook
 * becomes the incident's steps; with a commander, a communications lead and a scribe; a
 * timeline of every change; linked alerts and audit events. Until someone acknowledges
 * it, the escalation policy notifies level after level.
 *
 * Confirming an incident as a breach starts, at once, one clock per party to notify —
 * customers and users within 72 hours by default, each third party within its own
 * deadline — tracked to "sent" (with what was sent and how) or "missed". Reminders go
 * out 24 and 4 hours before a deadline; a missed one raises a critical alert and is
 * escalated to the owners and admins.
 */
export interface IncidentView {
  id: string
  type: string | null
  title: string
  severity: Severity
  status: IncidentStatus
  roles: { commander: string | null; communications: string | null; scribe: string | null }
  openedAt: string
  openedBy: string
  acknowledgedAt: string | null
  resolvedAt: string | null
  closedAt: string | null
  escalationLevel: number
  breach: { confirmedAt: string; summary: string } | null
  steps?: { idx: number; title: string; doneAt: string | null; doneBy: string | null }[]
  timeline?: { at: string; actor: string; kind: string; details: Record<string, unknown> }[]
  links?: { kind: 'alert' | 'audit_event'; ref: string }[]
  notifications?: BreachNotificationView[]
  /** The emails of the org's members it names (roles, opener, steps, timeline, notifications), by user id. */
  people?: Record<string, string>
}

export interface BreachNotificationView {
  id: string
  party: { kind: PartyKind; name: string }
  deadlineHours: number
  dueAt: string
  status: 'pending' | 'sent' | 'missed'
  late: boolean
  sentAt: string | null
  sentBy: string | null
  channel: string | null
  content: string | null
}

export interface OpenIncident {
  typeId?: string | undefined
  title: string
  severity?: Severity | undefined
  alertIds?: string[] | undefined
  /** The alert named in the URL it was opened from: unknown is 404, not a validation error. */
  fromAlert?: string | undefined
}

export interface IncidentsService {
  open(ctx: RequestContext, input: OpenIncident): Promise<IncidentView>
  list(ctx: RequestContext, page: PageRequest): Promise<Page<IncidentView>>
  get(ctx: RequestContext, id: string): Promise<IncidentView>
  update(
    ctx: RequestContext,
    id: string,
    input: {
      title?: string | undefined
      severity?: Severity | undefined
      status?: IncidentStatus | undefined
      commander?: string | null | undefined
      communications?: string | null | undefined
      scribe?: string | null | undefined
    },
  ): Promise<IncidentView>
  acknowledge(ctx: RequestContext, id: string): Promise<IncidentView>
  completeStep(ctx: RequestContext, id: string, idx: number): Promise<IncidentView>
  note(ctx: RequestContext, id: string, text: string): Promise<IncidentView>
  link(ctx: RequestContext, id: string, link: { kind: 'alert' | 'audit_event'; ref: string }): Promise<IncidentView>
  confirmBreach(
    ctx: RequestContext,
    id: string,
    input: { summary: string; parties?: { kind: PartyKind; name: string; deadlineHours: number }[] | undefined },
  ): Promise<IncidentView>
  markSent(
    ctx: RequestContext,
    id: string,
    notificationId: string,
    input: { channel: string; content: string },
  ): Promise<IncidentView>
  /** The job: escalation of unacknowledged incidents, breach clock reminders and misses. */
  watch(): Promise<{ escalated: number; reminded: number; missed: number }>
}

const HOUR_MS = 3_600_000
const REMINDERS_HOURS_BEFORE = [24, 4]
const FIRST_REMINDER_HOURS = 24
const SYSTEM = { type: 'system' as const, id: 'incidents' }
const NO_REQUEST = { requestId: null, ip: null, userAgent: null }

export function createIncidentsService(deps: {
  db: Kysely<DB>
  audit: Pick<AuditService, 'append'>
  alerts: Pick<AlertsService, 'linkIncidentIn' | 'raiseIn'>
  plan: Pick<PlanService, 'typeIn' | 'partiesIn' | 'escalationIn'>
  clock: Clock
}): IncidentsService {
  const { db, audit, clock } = deps
  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`

  async function load(trx: Trx, id: string, lock = false) {
    const query = trx.selectFrom('incidents').selectAll().where('id', '=', id)
    const row = await (lock ? query.forUpdate() : query).executeTakeFirst()
    if (row === undefined) throw new AppError('NOT_FOUND', 'no such incident')
    return row
  }

  function notificationView(n: Awaited<ReturnType<typeof notificationsOf>>[number]): BreachNotificationView {
    return {
      id: n.id,
      party: { kind: n.party_kind, name: n.party_name },
      deadlineHours: n.deadline_hours,
      dueAt: n.due_at.toISOString(),
      status: n.status,
      late: n.late,
      sentAt: n.sent_at?.toISOString() ?? null,
      sentBy: n.sent_by,
      channel: n.channel,
      content: n.content,
    }
  }

  const notificationsOf = (trx: Trx, id: string) =>
    trx
      .selectFrom('breach_notifications')
      .selectAll()
      .where('incident_id', '=', id)
      .orderBy('due_at')
      .orderBy('party_name')
      .execute()

  async function view(trx: Trx, row: Awaited<ReturnType<typeof load>>, full = true): Promise<IncidentView> {
    const base: IncidentView = {
      id: row.id,
      type: row.type_name,
      title: row.title,
      severity: row.severity,
      status: row.status,
      roles: {
        commander: row.commander_user_id,
        communications: row.communications_user_id,
        scribe: row.scribe_user_id,
      },
      openedAt: row.opened_at.toISOString(),
      openedBy: row.opened_by,
      acknowledgedAt: row.acknowledged_at?.toISOString() ?? null,
      resolvedAt: row.resolved_at?.toISOString() ?? null,
      closedAt: row.closed_at?.toISOString() ?? null,
      escalationLevel: row.escalation_level,
      breach:
        row.breach_confirmed_at === null
          ? null
          : { confirmedAt: row.breach_confirmed_at.toISOString(), summary: row.breach_summary ?? '' },
    }
    if (!full) return base
    const steps = (
      await trx.selectFrom('incident_steps').selectAll().where('incident_id', '=', row.id).orderBy('idx').execute()
    ).map((s) => ({ idx: s.idx, title: s.title, doneAt: s.done_at?.toISOString() ?? null, doneBy: s.done_by }))
    const timeline = (
      await trx
        .selectFrom('incident_timeline')
        .selectAll()
        .where('incident_id', '=', row.id)
        .orderBy('at')
        .orderBy('id')
        .execute()
    ).map((e) => ({ at: e.at.toISOString(), actor: e.actor, kind: e.kind, details: e.details }))
    const notifications = (await notificationsOf(trx, row.id)).map(notificationView)
    return {
      ...base,
      steps,
      timeline,
      links: (
        await trx.selectFrom('incident_links').select(['kind', 'ref']).where('incident_id', '=', row.id).execute()
      ).map((l) => ({ kind: l.kind, ref: l.ref })),
      notifications,
      people: await memberEmails(trx, row.org_id, [
        ...Object.values(base.roles),
        base.openedBy,
        ...steps.map((s) => s.doneBy),
        ...timeline.map((e) => e.actor),
        ...notifications.map((n) => n.sentBy),
      ]),
    }
  }

  /** A timeline entry and an audit event, for every change. */
  async function record(
    trx: Trx,
    orgId: string,
    incidentId: string,
    actor: { label: string; audit: ReturnType<typeof actorOf> | typeof SYSTEM },
    kind: string,
    details: Record<string, unknown>,
    meta: RequestContext['meta'] | typeof NO_REQUEST,
  ): Promise<void> {
    await trx
      .insertInto('incident_timeline')
      .values({
        id: randomUUID(),
        incident_id: incidentId,
        org_id: orgId,
        at: clock(),
        actor: actor.label,
        kind,
        details: JSON.stringify(details),
      })
      .execute()
    await audit.append(trx, {
      orgId,
      actor: actor.audit,
      action: `incident.${kind}`,
      target: { type: 'incident', id: incidentId },
      outcome: 'success',
      details,
      meta,
    })
  }
  const who = (ctx: RequestContext) => ({ label: by(ctx), audit: actorOf(ctx.principal) })

  async function assertMember(trx: Trx, userId: string | null | undefined, field: string): Promise<void> {
    if (userId === null || userId === undefined) return
    if (
      (await trx.selectFrom('memberships').select('user_id').where('user_id', '=', userId).executeTakeFirst()) ===
      undefined
    ) {
      throw new AppError('VALIDATION_FAILED', 'incident roles are held by members of the org', {
        errors: [{ path: `/body/${field}`, message: 'not a member' }],
      })
    }
  }

  async function notifyLevel(
    trx: Trx,
    orgId: string,
    roles: string[],
    users: string[],
    incident: { id: string; title: string; severity: Severity; commander_user_id: string | null },
    subject: string,
    body: string,
  ): Promise<void> {
    const recipients = [
      ...(await membersWithRoles(trx, roles)),
      ...users,
      ...(incident.commander_user_id === null ? [] : [incident.commander_user_id]),
    ]
    await enqueue(trx, recipients, {
      orgId,
      kind: 'incident.notice',
      subject,
      body,
      data: { incidentId: incident.id, severity: incident.severity },
    })
  }

  async function mutate(
    ctx: RequestContext,
    id: string,
    fn: (trx: Trx, row: Awaited<ReturnType<typeof load>>) => Promise<void>,
  ): Promise<IncidentView> {
    return withOrg(db, ctx.orgId, async (trx) => {
      const row = await load(trx, id, true)
      await fn(trx, row)
      return view(trx, await load(trx, id))
    })
  }

  return {
    async open(ctx, input) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const type = input.typeId === undefined ? undefined : await deps.plan.typeIn(trx, input.typeId)
        if (input.typeId !== undefined && type === undefined)
          throw new AppError('VALIDATION_FAILED', 'no such incident type in the plan', {
            errors: [{ path: '/body/typeId', message: 'unknown type' }],
          })
        const id = randomUUID()
        const now = clock()
        await trx
          .insertInto('incidents')
          .values({
            id,
            org_id: ctx.orgId,
            type_id: type?.id ?? null,
            type_name: type?.name ?? null,
            title: input.title,
            severity: input.severity ?? type?.defaultSeverity ?? 'medium',
            status: 'open',
            commander_user_id: null,
            communications_user_id: null,
            scribe_user_id: null,
            opened_at: now,
            opened_by: by(ctx),
            acknowledged_at: null,
            resolved_at: null,
            closed_at: null,
            breach_confirmed_at: null,
            breach_summary: null,
          })
          .execute()
        if (type !== undefined && type.playbook.length > 0)
          await trx
            .insertInto('incident_steps')
            .values(
              type.playbook.map((title, idx) => ({
                incident_id: id,
                org_id: ctx.orgId,
                idx,
                title,
                done_at: null,
                done_by: null,
              })),
            )
            .execute()
        await record(
          trx,
          ctx.orgId,
          id,
          who(ctx),
          'open',
          {
            title: input.title,
            type: type?.name ?? null,
            severity: input.severity ?? type?.defaultSeverity ?? 'medium',
          },
          ctx.meta,
        )
        for (const alertId of [
          ...(input.fromAlert === undefined ? [] : [input.fromAlert]),
          ...(input.alertIds ?? []),
        ]) {
          const alert = await trx.selectFrom('alerts').select('id').where('id', '=', alertId).executeTakeFirst()
          if (alert === undefined && alertId === input.fromAlert) throw new AppError('NOT_FOUND', 'no such alert')
          if (alert === undefined)
            throw new AppError('VALIDATION_FAILED', 'no such alert in this org', {
              errors: [{ path: '/body/alertIds', message: `unknown alert ${alertId}` }],
            })
          await deps.alerts.linkIncidentIn(trx, alertId, id)
          await trx
            .insertInto('incident_links')
            .values({ incident_id: id, org_id: ctx.orgId, kind: 'alert', ref: alertId })
            .execute()
        }
        const row = await load(trx, id)
        await notifyLevel(
          trx,
          ctx.orgId,
          ['owner', 'admin'],
          [],
          row,
          `[${row.severity}] incident opened: ${row.title}`,
          'Acknowledge it in Custodian, or it is escalated by the escalation policy.',
        )
        return view(trx, row)
      })
    },

    async list(ctx, page) {
      const order = newestFirst('opened_at')
      return withOrg(db, ctx.orgId, async (trx) => {
        const rows = await inIndexOrder(trx, () =>
          pageOf(trx.selectFrom('incidents').selectAll(), order, page).execute(),
        )
        const { items, nextCursor } = toPage(rows, order, page.limit)
        return { items: await Promise.all(items.map((r) => view(trx, r, false))), nextCursor }
      })
    },

    async get(ctx, id) {
      return withOrg(db, ctx.orgId, async (trx) => view(trx, await load(trx, id)))
    },

    update: (ctx, id, input) =>
      mutate(ctx, id, async (trx, row) => {
        for (const [field, value] of [
          ['commander', input.commander],
          ['communications', input.communications],
          ['scribe', input.scribe],
        ] as const)
          await assertMember(trx, value, field)
        const now = clock()
        const changes = {
          ...(input.title === undefined ? {} : { title: input.title }),
          ...(input.severity === undefined ? {} : { severity: input.severity }),
          ...(input.status === undefined
            ? {}
            : {
                status: input.status,
                ...(input.status === 'resolved' ? { resolved_at: now } : {}),
                ...(input.status === 'closed' ? { closed_at: now } : {}),
                ...(row.acknowledged_at === null && input.status !== 'open' ? { acknowledged_at: now } : {}),
              }),
          ...(input.commander === undefined ? {} : { commander_user_id: input.commander }),
          ...(input.communications === undefined ? {} : { communications_user_id: input.communications }),
          ...(input.scribe === undefined ? {} : { scribe_user_id: input.scribe }),
        }
        if (Object.keys(changes).length === 0)
          throw new AppError('VALIDATION_FAILED', 'nothing to change', {
            errors: [{ path: '/body', message: 'name at least one field' }],
          })
        await trx.updateTable('incidents').set(changes).where('id', '=', id).execute()
        const before = {
          title: row.title,
          severity: row.severity,
          status: row.status,
          commander: row.commander_user_id,
          communications: row.communications_user_id,
          scribe: row.scribe_user_id,
        }
        await record(trx, ctx.orgId, id, who(ctx), 'update', { before, after: input }, ctx.meta)
      }),

    acknowledge: (ctx, id) =>
      mutate(ctx, id, async (trx, row) => {
        if (row.acknowledged_at !== null) throw new AppError('CONFLICT', 'this incident was acknowledged already')
        await trx
          .updateTable('incidents')
          .set({ acknowledged_at: clock(), status: row.status === 'open' ? 'acknowledged' : row.status })
          .where('id', '=', id)
          .execute()
        await record(trx, ctx.orgId, id, who(ctx), 'acknowledge', { escalationLevel: row.escalation_level }, ctx.meta)
      }),

    completeStep: (ctx, id, idx) =>
      mutate(ctx, id, async (trx) => {
        const done = await trx
          .updateTable('incident_steps')
          .set({ done_at: clock(), done_by: by(ctx) })
          .where('incident_id', '=', id)
          .where('idx', '=', idx)
          .where('done_at', 'is', null)
          .returning('title')
          .executeTakeFirst()
        if (done === undefined) throw new AppError('NOT_FOUND', 'no such open step in this incident’s playbook')
        await record(trx, ctx.orgId, id, who(ctx), 'step', { idx, title: done.title }, ctx.meta)
      }),

    note: (ctx, id, text) =>
      mutate(ctx, id, async (trx) => record(trx, ctx.orgId, id, who(ctx), 'note', { text }, ctx.meta)),

    link: (ctx, id, link) =>
      mutate(ctx, id, async (trx) => {
        const exists =
          link.kind === 'alert'
            ? await trx.selectFrom('alerts').select('id').where('id', '=', link.ref).executeTakeFirst()
            : await trx
                .selectFrom('audit_events')
                .select('event_id as id')
                .where('event_id', '=', link.ref)
                .executeTakeFirst()
        if (exists === undefined)
          throw new AppError('VALIDATION_FAILED', `no such ${link.kind} in this org`, {
            errors: [{ path: '/body/ref', message: 'unknown' }],
          })
        await trx
          .insertInto('incident_links')
          .values({ incident_id: id, org_id: ctx.orgId, kind: link.kind, ref: link.ref })
          .onConflict((oc) => oc.doNothing())
          .execute()
        if (link.kind === 'alert') await deps.alerts.linkIncidentIn(trx, link.ref, id)
        await record(trx, ctx.orgId, id, who(ctx), 'link', link, ctx.meta)
      }),

    confirmBreach: (ctx, id, input) =>
      mutate(ctx, id, async (trx, row) => {
        if (row.breach_confirmed_at !== null)
          throw new AppError(
            'CONFLICT',
            `this incident was confirmed as a breach at ${row.breach_confirmed_at.toISOString()}`,
          )
        const now = clock()
        const parties = [...(await deps.plan.partiesIn(trx)), ...(input.parties ?? [])]
        await trx
          .updateTable('incidents')
          .set({
            breach_confirmed_at: now,
            breach_summary: input.summary,
            ...(row.acknowledged_at === null ? { acknowledged_at: now, status: 'acknowledged' as const } : {}),
          })
          .where('id', '=', id)
          .execute()
        // Confirming acknowledges an unacknowledged incident: its timeline and audit log say so too.
        if (row.acknowledged_at === null)
          await record(
            trx,
            ctx.orgId,
            id,
            who(ctx),
            'acknowledge',
            { escalationLevel: row.escalation_level, by: 'breach_confirmed' },
            ctx.meta,
          )
        // P6.4: the clocks start at the confirmation, at once.
        await trx
          .insertInto('breach_notifications')
          .values(
            parties.map((p) => ({
              id: randomUUID(),
              org_id: ctx.orgId,
              incident_id: id,
              party_kind: p.kind,
              party_name: p.name,
              deadline_hours: p.deadlineHours,
              due_at: new Date(now.getTime() + p.deadlineHours * HOUR_MS),
              status: 'pending' as const,
              sent_at: null,
              sent_by: null,
              channel: null,
              content: null,
              missed_at: null,
            })),
          )
          .execute()
        await record(
          trx,
          ctx.orgId,
          id,
          who(ctx),
          'breach_confirmed',
          {
            summary: input.summary,
            parties: parties.map((p) => ({ kind: p.kind, name: p.name, deadlineHours: p.deadlineHours })),
          },
          ctx.meta,
        )
        const communications = row.communications_user_id === null ? [] : [row.communications_user_id]
        await notifyLevel(
          trx,
          ctx.orgId,
          ['owner', 'admin'],
          communications,
          row,
          `Breach confirmed: ${row.title}`,
          `Notifications are due to ${parties.map((p) => `${p.name} within ${p.deadlineHours} hours`).join(', ')}, counted from ${now.toISOString()}.`,
        )
      }),

    markSent: (ctx, id, notificationId, input) =>
      mutate(ctx, id, async (trx) => {
        const n = await trx
          .selectFrom('breach_notifications')
          .selectAll()
          .where('id', '=', notificationId)
          .where('incident_id', '=', id)
          .forUpdate()
          .executeTakeFirst()
        if (n === undefined) throw new AppError('NOT_FOUND', 'no such breach notification in this incident')
        if (n.status === 'sent') throw new AppError('CONFLICT', 'this party was notified already')
        const now = clock()
        const late = now.getTime() > n.due_at.getTime()
        await trx
          .updateTable('breach_notifications')
          .set({ status: 'sent', sent_at: now, sent_by: by(ctx), channel: input.channel, content: input.content, late })
          .where('id', '=', notificationId)
          .execute()
        await record(
          trx,
          ctx.orgId,
          id,
          who(ctx),
          'breach_notified',
          {
            party: { kind: n.party_kind, name: n.party_name },
            channel: input.channel,
            dueAt: n.due_at.toISOString(),
            late,
          },
          ctx.meta,
        )
      }),

    async watch() {
      const now = clock()
      let escalated = 0
      let reminded = 0
      let missed = 0
      // Open work spans orgs: owner connection to find it; each change is made in its org
      // (P8.1: none in a refused org).
      const refused = orgsNotServed(db)
      const open = await withOwner(db, (trx) =>
        trx
          .selectFrom('incidents')
          .select(['id', 'org_id'])
          .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
          .where('acknowledged_at', 'is', null)
          .where('status', '=', 'open')
          .limit(500)
          .execute(),
      )
      for (const { id, org_id: orgId } of open) {
        await withOrg(db, orgId, async (trx) => {
          const row = await trx
            .selectFrom('incidents')
            .selectAll()
            .where('id', '=', id)
            .where('acknowledged_at', 'is', null)
            .forUpdate()
            .skipLocked()
            .executeTakeFirst()
          if (row === undefined) return
          const levels = await deps.plan.escalationIn(trx)
          const minutes = (now.getTime() - row.opened_at.getTime()) / 60_000
          const due = levels
            .map((l, i) => ({ ...l, level: i + 1 }))
            .filter((l) => l.afterMinutes <= minutes && l.level > row.escalation_level)
          const next = due.at(-1)
          if (next === undefined) return
          await trx.updateTable('incidents').set({ escalation_level: next.level }).where('id', '=', id).execute()
          await notifyLevel(
            trx,
            orgId,
            next.notifyRoles,
            next.notifyUsers,
            row,
            `[${row.severity}] unacknowledged incident escalated (level ${next.level}): ${row.title}`,
            `Opened ${row.opened_at.toISOString()}, not acknowledged after ${Math.floor(minutes)} minutes.`,
          )
          await record(
            trx,
            orgId,
            id,
            { label: 'system:incidents', audit: SYSTEM },
            'escalate',
            { level: next.level, afterMinutes: next.afterMinutes },
            NO_REQUEST,
          )
          escalated++
        })
      }
      const clocks = await withOwner(db, (trx) =>
        trx
          .selectFrom('breach_notifications')
          .select(['id', 'org_id'])
          .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
          .where('status', '=', 'pending')
          .where('due_at', '<=', new Date(now.getTime() + FIRST_REMINDER_HOURS * HOUR_MS))
          .limit(500)
          .execute(),
      )
      for (const { id, org_id: orgId } of clocks) {
        await withOrg(db, orgId, async (trx) => {
          const n = await trx
            .selectFrom('breach_notifications')
            .selectAll()
            .where('id', '=', id)
            .where('status', '=', 'pending')
            .forUpdate()
            .skipLocked()
            .executeTakeFirst()
          if (n === undefined) return
          const incident = await load(trx, n.incident_id)
          const left = n.due_at.getTime() - now.getTime()
          if (left <= 0) {
            await trx
              .updateTable('breach_notifications')
              .set({ status: 'missed', missed_at: now })
              .where('id', '=', id)
              .execute()
            await deps.alerts.raiseIn(trx, orgId, 'breach_notification_missed', {
              key: id,
              title: `the breach notification to ${n.party_name} was due ${timeInWords(n.due_at)} and was not sent`,
              details: {
                incident: incident.id,
                party: { kind: n.party_kind, name: n.party_name },
                dueAt: n.due_at.toISOString(),
              },
            })
            await notifyLevel(
              trx,
              orgId,
              ['owner', 'admin'],
              incident.communications_user_id === null ? [] : [incident.communications_user_id],
              incident,
              `MISSED: breach notification to ${n.party_name}`,
              `It was due ${n.due_at.toISOString()} (${n.deadline_hours} hours after the confirmation). Notify the party now and record it.`,
            )
            await record(
              trx,
              orgId,
              incident.id,
              { label: 'system:incidents', audit: SYSTEM },
              'breach_notification_missed',
              { party: { kind: n.party_kind, name: n.party_name }, dueAt: n.due_at.toISOString() },
              NO_REQUEST,
            )
            missed++
            return
          }
          const stage = REMINDERS_HOURS_BEFORE.filter((h) => left <= h * HOUR_MS).length
          if (stage <= n.reminders_sent) return
          await trx.updateTable('breach_notifications').set({ reminders_sent: stage }).where('id', '=', id).execute()
          const recipients = incident.communications_user_id === null ? ['owner', 'admin'] : []
          await notifyLevel(
            trx,
            orgId,
            recipients,
            incident.communications_user_id === null ? [] : [incident.communications_user_id],
            incident,
            `Breach notification to ${n.party_name} due in ${Math.ceil(left / HOUR_MS)} hours`,
            `Due ${n.due_at.toISOString()}. Record it in Custodian once sent.`,
          )
          reminded++
        })
      }
      return { escalated, reminded, missed }
    },
  }
}

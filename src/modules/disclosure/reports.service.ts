import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import { Temporal } from 'temporal-polyfill'
import type { Clock } from '../../clock.ts'
import type { Config } from '../../config.ts'
import { issueToken, parseToken, secretMatches } from '../../crypto/tokens.ts'
import type { DB } from '../../db/schema.ts'
import { newestFirst, pageOf, toPage, type Page, type PageRequest, inIndexOrder } from '../../db/page.ts'
import { withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { AuditActor, RequestMeta } from '../audit/audit.types.ts'
import { enqueue, enqueueExternal, fitForNotice, membersWithRoles } from '../notify/notify.service.ts'
import type { Subjects } from '../privacy/subjects.ts'
import type { AlertsService } from '../response/alerts.service.ts'
import { addBusinessDays, businessDaysBetween, subtractBusinessDays, type BusinessCalendar } from './business-days.ts'
import type { ReportSeverity, ReportStatus, VulnerabilityReportsTable } from './disclosure.tables.ts'
import {
  reporterSubject,
  type ReportDetails,
  type ReporterContact,
  type ReportKey,
  type ReportSealing,
} from './reports.sealing.ts'
import { requireMailbox } from '../../email-address.ts'
import { timeInWords } from '../../time-zone.ts'

/**
 * Vulnerability reports (P9.1). Anyone may report, rate-limited per address, with no
 * account: the answer is a tracking reference and a status token (shown once; only its
 * hash is kept) with which the reporter reads the report's status and the team's
 * updates, and replies. Acknowledgement is due within N business days of receipt
 * (business-days.ts); a day before, the provider's owners and admins are reminded, and
 * when it passes unacknowledged a `disclosure_ack_overdue` alert is raised. A report is
 * acknowledged by the team's first message to the reporter.
 *
 * Reports belong to the provider org (the deployment's own security team). Nothing a
 * reporter wrote goes into a notification to the team (it could carry anything); the
 * reporter's own e-mails carry the team's words only when they hold no link or credential.
 */
export interface SubmitReport {
  title: string
  location: string
  impact: string
  steps: string
  severity?: ReportSeverity | undefined
  reporter?: { name?: string | undefined; email?: string | undefined; credit?: boolean | undefined } | undefined
  attachments?: { filename: string; contentType: string; data: string }[] | undefined
}

export interface Receipt {
  reference: string
  statusToken: string
  receivedAt: string
  acknowledgementDueAt: string
}

export interface ReporterView {
  reference: string
  status: ReportStatus
  receivedAt: string
  acknowledgementDueAt: string
  acknowledgedAt: string | null
  closedAt: string | null
  updates: { at: string; from: 'team' | 'reporter'; status: ReportStatus | null; message: string | null }[]
}

export interface ReportSummary {
  id: string
  reference: string
  status: ReportStatus
  severity: ReportSeverity | null
  reportedSeverity: ReportSeverity | null
  title: string
  receivedAt: string
  acknowledgementDueAt: string
  acknowledgedAt: string | null
  overdue: boolean
  /** Whole business days (the deadline's calendar) from now to the deadline; null once acknowledged or overdue. */
  businessDaysLeft: number | null
  closedAt: string | null
}

export interface ReportView extends ReportSummary, ReportDetails {
  reporter: ReporterContact | null
  reporterErased: boolean
  attachments: { idx: number; filename: string; contentType: string; size: number; sha256: string }[]
  messages: {
    id: string
    at: string
    from: 'team' | 'reporter'
    by: string | null
    /** The operator who wrote it, for the team (never on the reporter's view). */
    byEmail: string | null
    status: ReportStatus | null
    internal: boolean
    message: string | null
  }[]
}

export interface TeamUpdate {
  status?: Exclude<ReportStatus, 'received' | 'acknowledged'> | undefined
  severity?: ReportSeverity | undefined
  message?: string | undefined
  internal?: boolean | undefined
}

export interface ReportsService {
  submit(meta: RequestMeta, input: SubmitReport): Promise<Receipt>
  status(token: string | undefined): Promise<ReporterView>
  reply(meta: RequestMeta, token: string | undefined, message: string): Promise<ReporterView>
  /** Newest first, a page at a time (index `(org_id, received_at, id)`). */
  list(
    ctx: RequestContext,
    filter: { status?: ReportStatus | undefined; open?: boolean | undefined },
    page: PageRequest,
  ): Promise<Page<ReportSummary>>
  get(ctx: RequestContext, id: string): Promise<ReportView>
  attachment(ctx: RequestContext, id: string, idx: number): Promise<{ filename: string; data: Buffer }>
  acknowledge(ctx: RequestContext, id: string, message: string): Promise<ReportView>
  update(ctx: RequestContext, id: string, input: TeamUpdate): Promise<ReportView>
  /** The job: reminders a business day before the deadline, alerts once it passed. */
  watch(): Promise<{ reminded: number; overdue: number }>
  /** The address of `vulnerability-report:<id>` for the mail outbox; undefined once erased or restricted. */
  resolveAddress(orgId: string, ref: string): Promise<string | undefined>
}

/**
 * Reports whose deadline is this close are looked at for a reminder (one business day
 * before it, which holidays and weekends can push weeks back); the exact time is computed
 * per report.
 */
const REMINDER_HORIZON_HOURS = 31 * 24
const CLOSED: ReadonlySet<ReportStatus> = new Set(['resolved', 'rejected', 'duplicate'])
const BASE32 = 'ABCDEFGHJKMNPQRSTVWXYZ0123456789' // Crockford-like, no I, L, O, U
const ANONYMOUS: AuditActor = { type: 'anonymous', id: null }
const SYSTEM: AuditActor = { type: 'system', id: 'disclosure' }
const NO_REQUEST: RequestMeta = { requestId: null, ip: null, userAgent: null }
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

function newReference(): string {
  return `VR-${[...randomBytes(10)].map((b) => BASE32[b % BASE32.length]).join('')}`
}

const refOf = (id: string) => `vulnerability-report:${id}`

export function createReportsService(deps: {
  db: Kysely<DB>
  sealing: ReportSealing
  subjects: Pick<Subjects, 'personal'>
  audit: Pick<AuditService, 'append'>
  alerts: Pick<AlertsService, 'raiseIn'>
  clock: Clock
  providerOrgId: () => Promise<string | undefined>
  config: Pick<Config['disclosure'], 'ackBusinessDays' | 'attachmentMaxBytes'>
  calendar: BusinessCalendar
}): ReportsService {
  const { db, sealing, audit, clock } = deps

  async function providerOrg(): Promise<string> {
    const orgId = await deps.providerOrgId()
    if (orgId === undefined)
      throw new AppError(
        'SERVICE_UNAVAILABLE',
        'this deployment is not set up yet: reports are accepted once it is bootstrapped',
      )
    return orgId
  }

  function decodeAttachments(
    input: SubmitReport['attachments'],
  ): { filename: string; contentType: string; bytes: Buffer }[] {
    return (input ?? []).map((a, i) => {
      if (!BASE64.test(a.data))
        throw new AppError('VALIDATION_FAILED', 'an attachment is not base64', {
          errors: [{ path: `/body/attachments/${i}/data`, message: 'must be standard base64 (RFC 4648 §4)' }],
        })
      const bytes = Buffer.from(a.data, 'base64')
      if (bytes.length > deps.config.attachmentMaxBytes)
        throw new AppError(
          'PAYLOAD_TOO_LARGE',
          `attachment ${i + 1} (${a.filename}) is ${bytes.length} bytes; each may be at most ${deps.config.attachmentMaxBytes}`,
        )
      return { filename: a.filename, contentType: a.contentType, bytes }
    })
  }

  async function byToken(trx: Trx, token: string | undefined) {
    const parsed = token === undefined ? undefined : parseToken('cst_vrs', token)
    const row =
      parsed === undefined
        ? undefined
        : await trx.selectFrom('vulnerability_reports').selectAll().where('id', '=', parsed.id).executeTakeFirst()
    if (parsed === undefined || row === undefined || !secretMatches(parsed.secret, row.token_hash)) {
      throw new AppError('UNAUTHENTICATED', 'send the status token you were given as Authorization: Bearer cst_vrs_…')
    }
    return row
  }

  async function load(trx: Trx, id: string, lock = false) {
    let query = trx.selectFrom('vulnerability_reports').selectAll().where('id', '=', id)
    if (lock) query = query.forUpdate()
    const row = await query.executeTakeFirst()
    if (row === undefined) throw new AppError('NOT_FOUND', 'no such vulnerability report')
    return row
  }

  async function messagesOf(trx: Trx, row: VulnerabilityReportsTable, opened?: ReportKey) {
    const key = opened ?? (await sealing.openKey(trx, row))
    const rows = await trx
      .selectFrom('vulnerability_report_messages')
      .selectAll()
      .where('report_id', '=', row.id)
      .orderBy('at')
      .orderBy('id')
      .execute()
    return rows.map((m) => ({
      id: m.id,
      at: m.at.toISOString(),
      from: m.author,
      by: m.author_user_id,
      status: m.status,
      internal: m.internal,
      message: m.body_sealed === null ? null : sealing.open<string>(key, `message/${m.id}`, m.body_sealed),
    }))
  }

  function summary(row: VulnerabilityReportsTable, details: ReportDetails): ReportSummary {
    return {
      id: row.id,
      reference: row.reference,
      status: row.status,
      severity: row.severity,
      reportedSeverity: row.reported_severity,
      title: details.title,
      receivedAt: row.received_at.toISOString(),
      acknowledgementDueAt: row.ack_due_at.toISOString(),
      acknowledgedAt: row.acknowledged_at?.toISOString() ?? null,
      overdue: row.acknowledged_at === null && clock().getTime() >= row.ack_due_at.getTime(),
      businessDaysLeft:
        row.acknowledged_at === null && clock().getTime() < row.ack_due_at.getTime()
          ? businessDaysBetween(clock(), row.ack_due_at, deps.calendar)
          : null,
      closedAt: row.closed_at?.toISOString() ?? null,
    }
  }

  async function reporterView(trx: Trx, row: VulnerabilityReportsTable): Promise<ReporterView> {
    const messages = (await messagesOf(trx, row)).filter((m) => !m.internal)
    return {
      reference: row.reference,
      status: row.status,
      receivedAt: row.received_at.toISOString(),
      acknowledgementDueAt: row.ack_due_at.toISOString(),
      acknowledgedAt: row.acknowledged_at?.toISOString() ?? null,
      closedAt: row.closed_at?.toISOString() ?? null,
      updates: messages.map((m) => ({ at: m.at, from: m.from, status: m.status, message: m.message })),
    }
  }

  async function teamView(trx: Trx, row: VulnerabilityReportsTable): Promise<ReportView> {
    const key = await sealing.openKey(trx, row)
    const details = sealing.open<ReportDetails>(key, 'details', row.details_sealed)
    const contact = await sealing.openContact(trx, row)
    const attachments = await trx
      .selectFrom('vulnerability_report_attachments')
      .select(['idx', 'filename', 'content_type', 'size', 'sha256'])
      .where('report_id', '=', row.id)
      .orderBy('idx')
      .execute()
    return {
      ...summary(row, details),
      ...details,
      reporter: contact?.contact ?? null,
      reporterErased: row.subject_ref !== null && contact === null,
      attachments: attachments.map((a) => ({
        idx: a.idx,
        filename: a.filename,
        contentType: a.content_type,
        size: a.size,
        sha256: a.sha256,
      })),
      messages: await withAuthors(trx, await messagesOf(trx, row, key)),
    }
  }

  /** The team's messages with their operator's email: shown to the team, which knows its operators. */
  async function withAuthors<M extends { by: string | null }>(
    trx: Trx,
    messages: M[],
  ): Promise<(M & { byEmail: string | null })[]> {
    const ids = [...new Set(messages.flatMap((m) => (m.by === null ? [] : [m.by])))]
    const users =
      ids.length === 0 ? [] : await trx.selectFrom('users').select(['id', 'email']).where('id', 'in', ids).execute()
    const emails = new Map(users.map((u) => [u.id, u.email]))
    return messages.map((m) => ({ ...m, byEmail: m.by === null ? null : (emails.get(m.by) ?? null) }))
  }

  async function addMessage(
    trx: Trx,
    row: VulnerabilityReportsTable,
    message: {
      author: 'team' | 'reporter'
      userId: string | null
      status: ReportStatus | null
      internal: boolean
      text: string | undefined
    },
  ): Promise<void> {
    const key = await sealing.openKey(trx, row)
    const id = randomUUID()
    await trx
      .insertInto('vulnerability_report_messages')
      .values({
        id,
        report_id: row.id,
        org_id: row.org_id,
        at: clock(),
        author: message.author,
        author_user_id: message.userId,
        status: message.status,
        internal: message.internal,
        body_sealed: message.text === undefined ? null : sealing.seal(key, `message/${id}`, message.text),
      })
      .execute()
  }

  /** Mails the reporter, if they left an address: the team's words when fit for mail, else a pointer. */
  async function tellReporter(
    trx: Trx,
    row: VulnerabilityReportsTable,
    subject: string,
    text: string | undefined,
  ): Promise<void> {
    if (row.subject_ref === null) return
    const body =
      text !== undefined && fitForNotice(text)
        ? text
        : 'There is an update on your report. Read it with your status token: GET /v1/vulnerability-reports/status.'
    await enqueueExternal(trx, refOf(row.id), {
      orgId: row.org_id,
      kind: 'disclosure.reporter',
      subject: `[${row.reference}] ${subject}`,
      body: `${body}\n\nStatus: ${row.status}.`,
      data: { reference: row.reference },
    })
  }

  async function tellTeam(trx: Trx, row: VulnerabilityReportsTable, subject: string, body: string): Promise<void> {
    await enqueue(trx, await membersWithRoles(trx, ['owner', 'admin']), {
      orgId: row.org_id,
      kind: 'disclosure.team',
      subject: `[${row.reference}] ${subject}`,
      body,
      data: { reportId: row.id, reference: row.reference },
    })
  }

  async function teamChange(
    ctx: RequestContext,
    id: string,
    fn: (trx: Trx, row: VulnerabilityReportsTable) => Promise<void>,
  ): Promise<ReportView> {
    return withOrg(db, ctx.orgId, async (trx) => {
      await fn(trx, await load(trx, id, true))
      return teamView(trx, await load(trx, id))
    })
  }

  return {
    async submit(meta, input) {
      const orgId = await providerOrg()
      const files = decodeAttachments(input.attachments)
      const now = clock()
      const token = issueToken('cst_vrs')
      const id = token.id
      const reference = newReference()
      const ackDue = addBusinessDays(now, deps.config.ackBusinessDays, deps.calendar)
      const contact: ReporterContact | null =
        input.reporter === undefined || (input.reporter.email === undefined && input.reporter.name === undefined)
          ? null
          : {
              name: input.reporter.name ?? null,
              email:
                input.reporter.email === undefined
                  ? null
                  : requireMailbox(input.reporter.email, '/body/reporter/email').address,
              credit: input.reporter.credit ?? false,
            }
      await withOrg(db, orgId, async (trx) => {
        const { key, wrapped, kekVersion } = await sealing.newKey(trx, orgId, id)
        const details: ReportDetails = {
          title: input.title,
          location: input.location,
          impact: input.impact,
          steps: input.steps,
        }
        const sealedContact = contact === null ? null : await sealing.sealContact(trx, orgId, id, contact)
        const row = {
          id,
          org_id: orgId,
          reference,
          token_hash: token.secretHash,
          status: 'received' as const,
          reported_severity: input.severity ?? null,
          severity: null,
          dek_wrapped: wrapped,
          kek_version: kekVersion,
          details_sealed: sealing.seal(key, 'details', details),
          subject_ref: sealedContact?.subjectRef ?? null,
          contact_sealed: sealedContact?.sealed ?? null,
          received_at: now,
          ack_due_at: ackDue,
          acknowledged_at: null,
          ack_reminded_at: null,
          ack_overdue_at: null,
          closed_at: null,
          updated_at: now,
        }
        await trx.insertInto('vulnerability_reports').values(row).execute()
        for (const [idx, file] of files.entries()) {
          await trx
            .insertInto('vulnerability_report_attachments')
            .values({
              report_id: id,
              org_id: orgId,
              idx,
              filename: file.filename,
              content_type: file.contentType,
              size: file.bytes.length,
              sha256: createHash('sha256').update(file.bytes).digest('hex'),
              sealed: sealing.sealBytes(key, `attachment/${idx}`, file.bytes),
            })
            .execute()
        }
        await audit.append(trx, {
          orgId,
          actor: ANONYMOUS,
          action: 'disclosure.report.receive',
          target: { type: 'vulnerability_report', id },
          outcome: 'success',
          details: {
            reference,
            attachments: files.length,
            reportedSeverity: input.severity ?? null,
            acknowledgementDueAt: ackDue.toISOString(),
          },
          personal:
            contact === null
              ? undefined
              : await deps.subjects.personal(trx, orgId, reporterSubject(id, contact), { reporter: contact }),
          meta,
        })
        await tellTeam(
          trx,
          row,
          'new vulnerability report',
          `Received ${now.toISOString()}; acknowledge it by ${ackDue.toISOString()} (${deps.config.ackBusinessDays} business days). Read it in Custodian.`,
        )
        await tellReporter(
          trx,
          row,
          'we received your report',
          `Thank you. Your report is ${reference}; we will acknowledge it by ${ackDue.toISOString()}.`,
        )
      })
      return {
        reference,
        statusToken: token.token,
        receivedAt: now.toISOString(),
        acknowledgementDueAt: ackDue.toISOString(),
      }
    },

    async status(token) {
      const orgId = await providerOrg()
      return withOrg(db, orgId, async (trx) => reporterView(trx, await byToken(trx, token)))
    },

    async reply(meta, token, message) {
      const orgId = await providerOrg()
      return withOrg(db, orgId, async (trx) => {
        const found = await byToken(trx, token)
        const row = await load(trx, found.id, true)
        await addMessage(trx, row, { author: 'reporter', userId: null, status: null, internal: false, text: message })
        await trx.updateTable('vulnerability_reports').set({ updated_at: clock() }).where('id', '=', row.id).execute()
        await audit.append(trx, {
          orgId,
          actor: ANONYMOUS,
          action: 'disclosure.report.reply',
          target: { type: 'vulnerability_report', id: row.id },
          outcome: 'success',
          details: { reference: row.reference },
          meta,
        })
        await tellTeam(trx, row, 'the reporter replied', 'Read the reply in Custodian.')
        return reporterView(trx, row)
      })
    },

    async list(ctx, filter, page) {
      const order = newestFirst('received_at')
      return withOrg(db, ctx.orgId, async (trx) => {
        let query = trx.selectFrom('vulnerability_reports').selectAll()
        if (filter.status !== undefined) query = query.where('status', '=', filter.status)
        if (filter.open === true) query = query.where('closed_at', 'is', null)
        if (filter.open === false) query = query.where('closed_at', 'is not', null)
        // Status and open have no index in the page's order: with them, the planner chooses.
        const unfiltered = filter.status === undefined && filter.open === undefined
        const rows = unfiltered
          ? await inIndexOrder(trx, () => pageOf(query, order, page).execute())
          : await pageOf(query, order, page).execute()
        const { items, nextCursor } = toPage(rows, order, page.limit)
        const out: ReportSummary[] = []
        for (const row of items)
          out.push(
            summary(row, sealing.open<ReportDetails>(await sealing.openKey(trx, row), 'details', row.details_sealed)),
          )
        return { items: out, nextCursor }
      })
    },

    async get(ctx, id) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const row = await load(trx, id)
        // Details of an unfixed vulnerability and a person's contact: every read is recorded.
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'disclosure.report.read',
          target: { type: 'vulnerability_report', id },
          outcome: 'success',
          details: { reference: row.reference },
          meta: ctx.meta,
        })
        return teamView(trx, row)
      })
    },

    async attachment(ctx, id, idx) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const row = await load(trx, id)
        const file = await trx
          .selectFrom('vulnerability_report_attachments')
          .selectAll()
          .where('report_id', '=', id)
          .where('idx', '=', idx)
          .executeTakeFirst()
        if (file === undefined) throw new AppError('NOT_FOUND', 'no such attachment')
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'disclosure.report.attachment_read',
          target: { type: 'vulnerability_report', id },
          outcome: 'success',
          details: { reference: row.reference, attachment: idx, sha256: file.sha256 },
          meta: ctx.meta,
        })
        return {
          filename: file.filename,
          data: sealing.openBytes(await sealing.openKey(trx, row), `attachment/${idx}`, file.sealed),
        }
      })
    },

    async acknowledge(ctx, id, message) {
      return teamChange(ctx, id, async (trx, row) => {
        if (row.acknowledged_at !== null)
          throw new AppError('CONFLICT', `this report was acknowledged at ${row.acknowledged_at.toISOString()}`)
        const now = clock()
        const status = row.status === 'received' ? 'acknowledged' : row.status
        await trx
          .updateTable('vulnerability_reports')
          .set({ status, acknowledged_at: now, updated_at: now })
          .where('id', '=', id)
          .execute()
        await addMessage(trx, row, { author: 'team', userId: ctx.principal.id, status, internal: false, text: message })
        const late = now.getTime() > row.ack_due_at.getTime()
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'disclosure.report.acknowledge',
          target: { type: 'vulnerability_report', id },
          outcome: 'success',
          details: { reference: row.reference, dueAt: row.ack_due_at.toISOString(), late },
          meta: ctx.meta,
        })
        await tellReporter(trx, { ...row, status }, 'your report was acknowledged', message)
      })
    },

    async update(ctx, id, input) {
      if (input.status === undefined && input.severity === undefined && input.message === undefined) {
        throw new AppError('VALIDATION_FAILED', 'an update needs a status, a severity or a message', {
          errors: [{ path: '/body', message: 'nothing to change' }],
        })
      }
      if (input.internal === true && input.message === undefined)
        throw new AppError('VALIDATION_FAILED', 'an internal note needs a message', {
          errors: [{ path: '/body/message', message: 'required with internal' }],
        })
      return teamChange(ctx, id, async (trx, row) => {
        const now = clock()
        const status = input.status ?? row.status
        const toReporter = input.internal !== true && (input.message !== undefined || status !== row.status)
        const acknowledges = row.acknowledged_at === null && input.internal !== true && input.message !== undefined
        await trx
          .updateTable('vulnerability_reports')
          .set({
            status: acknowledges && status === 'received' ? 'acknowledged' : status,
            ...(input.severity === undefined ? {} : { severity: input.severity }),
            ...(acknowledges ? { acknowledged_at: now } : {}),
            closed_at: CLOSED.has(status) ? (row.closed_at ?? now) : null,
            updated_at: now,
          })
          .where('id', '=', id)
          .execute()
        await addMessage(trx, row, {
          author: 'team',
          userId: ctx.principal.id,
          status: status === row.status ? null : status,
          internal: input.internal === true,
          text: input.message,
        })
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor: actorOf(ctx.principal),
          action: 'disclosure.report.update',
          target: { type: 'vulnerability_report', id },
          outcome: 'success',
          details: {
            reference: row.reference,
            from: row.status,
            to: status,
            severity: input.severity ?? null,
            message: input.message !== undefined,
            internal: input.internal === true,
            acknowledges,
          },
          meta: ctx.meta,
        })
        if (toReporter)
          await tellReporter(
            trx,
            { ...row, status },
            status === row.status ? 'a message about your report' : `your report is now ${status}`,
            input.message,
          )
      })
    },

    async watch() {
      const now = clock()
      const refused = orgsNotServed(db) // P8.1
      const due = await withOwner(db, (trx) =>
        trx
          .selectFrom('vulnerability_reports')
          .select(['id', 'org_id', 'ack_due_at', 'ack_reminded_at', 'ack_overdue_at'])
          .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
          .where('acknowledged_at', 'is', null)
          .where((eb) => eb.or([eb('ack_reminded_at', 'is', null), eb('ack_overdue_at', 'is', null)]))
          .where(
            'ack_due_at',
            '<=',
            new Date(
              Temporal.Instant.fromEpochMilliseconds(now.getTime()).add({ hours: REMINDER_HORIZON_HOURS })
                .epochMilliseconds,
            ),
          )
          .limit(500)
          .execute(),
      )
      let reminded = 0
      let overdue = 0
      for (const candidate of due) {
        // The reminder is due one business day before the deadline (same local time): Friday
        // 10:00 for a Monday 10:00 deadline, not Sunday.
        if (now.getTime() < subtractBusinessDays(candidate.ack_due_at, 1, deps.calendar).getTime()) continue
        await withOrg(db, candidate.org_id, async (trx) => {
          const row = await load(trx, candidate.id, true)
          if (row.acknowledged_at !== null) return
          if (now.getTime() >= row.ack_due_at.getTime()) {
            if (row.ack_overdue_at !== null) return
            await trx
              .updateTable('vulnerability_reports')
              .set({ ack_overdue_at: now, ack_reminded_at: row.ack_reminded_at ?? now })
              .where('id', '=', row.id)
              .execute()
            await deps.alerts.raiseIn(trx, row.org_id, 'disclosure_ack_overdue', {
              key: row.id,
              title: `vulnerability report ${row.reference} was due to be acknowledged by ${timeInWords(row.ack_due_at, deps.calendar.timeZone)}`,
              details: { reference: row.reference, dueAt: row.ack_due_at.toISOString() },
            })
            await audit.append(trx, {
              orgId: row.org_id,
              actor: SYSTEM,
              action: 'disclosure.report.ack_overdue',
              target: { type: 'vulnerability_report', id: row.id },
              outcome: 'failure',
              details: { reference: row.reference, dueAt: row.ack_due_at.toISOString() },
              meta: NO_REQUEST,
            })
            overdue++
          } else if (row.ack_reminded_at === null) {
            await trx
              .updateTable('vulnerability_reports')
              .set({ ack_reminded_at: now })
              .where('id', '=', row.id)
              .execute()
            await tellTeam(
              trx,
              row,
              'acknowledgement due within a business day',
              `Acknowledge it by ${row.ack_due_at.toISOString()}: the reporter was promised an answer within the deadline.`,
            )
            reminded++
          }
        })
      }
      return { reminded, overdue }
    },

    async resolveAddress(orgId, ref) {
      const id = /^vulnerability-report:([0-9a-f-]{36})$/.exec(ref)?.[1]
      if (id === undefined) return undefined
      return withOrg(db, orgId, async (trx) => {
        const row = await trx
          .selectFrom('vulnerability_reports')
          .select(['id', 'org_id', 'subject_ref', 'contact_sealed'])
          .where('id', '=', id)
          .executeTakeFirst()
        const opened = row === undefined ? null : await sealing.openContact(trx, row)
        return opened === null || opened.restricted ? undefined : (opened.contact.email ?? undefined)
      })
    },
  }
}

import { randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import { readPage, type PageOrder, type PageRequest } from '../../db/page.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg, withOwner, type Trx, orgsNotServed } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import type { RequestContext } from '../../context.ts'
import type { WebhooksService } from '../notify/webhooks.service.ts'
import type { PurposeRow } from './consent.store.ts'
import type { ReconsentListT, ReconsentReason } from './consent.types.ts'

/**
 * Re-consent (P7.7; EDPB Guidelines 05/2020 §4, GDPR Art. 7(1)): the subjects whose grant no
 * longer counts, or soon will not, because a notice version covering the purpose was a
 * material change (`material_change`) or the consent's lifetime ended (`lifetime_ended`);
 * and telling the host application so, in batches, through the org's webhooks subscribed
 * to `consent.reconsent_required` (subjects by keyed reference only, never the raw id).
 *
 * A material change sets the purpose's grace period (`reconsentGraceDays`, none by
 * default): until it ends a grant under a superseded version still counts (the check
 * answers `reconsent_grace`), then the check answers `reconsent_required`
 * (consent.decide.ts). A grant superseded by an earlier material change gets no second
 * grace: the previous change's version becomes the hard floor.
 */

/** The webhook event that tells the host application whom to ask again. */
export const RECONSENT_EVENT = 'consent.reconsent_required'
/** Subjects per webhook delivery (and per run of a batch). */
export const RECONSENT_BATCH = 500

const DAY_MS = 86_400_000

/** Page orders of the two lists (indexes consent_state_reconsent and consent_state_lapsed, migration 0044). */
const BY_VERSION: PageOrder = {
  keys: [
    { column: 's.notice_version', type: 'integer' },
    { column: 's.subject_ref', type: 'bytea' },
  ],
  direction: 'asc',
}
const BY_LAPSE: PageOrder = {
  keys: [
    { column: 's.expires_at', type: 'timestamptz' },
    { column: 's.subject_ref', type: 'bytea' },
  ],
  direction: 'asc',
}

/**
 * In the notice's transaction: a material change published at `at` as `version` requires
 * re-consent for each purpose it covers. Each purpose's grace period starts at `at`; the
 * previous material change becomes the floor below which no grant counts any more; a run
 * is queued to tell the host application in batches (consentJobs.notifyReconsent).
 */
export async function requireReconsent(
  trx: Trx,
  orgId: string,
  purposes: readonly PurposeRow[],
  version: number,
  at: Date,
): Promise<void> {
  for (const purpose of purposes) {
    const days = purpose.reconsent_grace_days ?? 0
    const graceUntil = days > 0 ? new Date(at.getTime() + days * DAY_MS) : null
    await trx
      .updateTable('consent_purposes')
      .set({
        reconsent_hard_version: purpose.reconsent_from_version,
        reconsent_from_version: version,
        reconsent_since: at,
        reconsent_grace_until: graceUntil,
      })
      .where('id', '=', purpose.id)
      .execute()
    await trx
      .insertInto('consent_reconsent_runs')
      .values({
        id: randomUUID(),
        org_id: orgId,
        purpose_id: purpose.id,
        version,
        since: at,
        grace_until: graceUntil,
        batches: 0,
        subjects: 0,
        created_at: at,
      })
      .execute()
  }
}

/** The keyed reference as the API shows it (as in decision tokens): base64url. PGlite reads bytea as a Uint8Array. */
export const refText = (ref: Uint8Array): string => Buffer.from(ref).toString('base64url')

/** The affected states of a purpose, a page at a time, in index order. */
async function affected(
  trx: Trx,
  orgId: string,
  purpose: PurposeRow,
  reason: ReconsentReason,
  page: PageRequest,
  now: Date,
) {
  const base = trx
    .selectFrom('consent_state as s')
    .select(['s.subject_ref', 's.event_id', 's.notice_version', 's.expires_at'])
    .where('s.org_id', '=', orgId)
    .where('s.purpose_id', '=', purpose.id)
    // A state of an erased subject (its key shredded, or renewed since) is a past subject's.
    .where((outer) =>
      outer.not(
        outer.exists(
          outer
            .selectFrom('subject_keys as k')
            .select(sql<number>`1`.as('one'))
            .whereRef('k.org_id', '=', 's.org_id')
            .whereRef('k.subject_ref', '=', 's.subject_ref')
            .where((eb) =>
              eb.or([eb('k.shredded_at', 'is not', null), eb('k.key_id', '!=', eb.ref('s.subject_key_id'))]),
            ),
        ),
      ),
    )
  if (reason === 'material_change') {
    const from = purpose.reconsent_from_version
    if (from === null) return { items: [], nextCursor: null }
    return readPage(trx, base.where('s.state', '=', 'granted').where('s.notice_version', '<', from), BY_VERSION, page)
  }
  return readPage(
    trx,
    base.where('s.state', 'in', ['granted', 'expired']).where('s.expires_at', '<=', now),
    BY_LAPSE,
    page,
  )
}

/**
 * `GET …/consent/reconsent?purpose=&reason=`: the subjects of one purpose that must consent
 * again, by keyed reference, with why, since when and until when a check still answers
 * allowed. 404 when the purpose is not the org's.
 */
export async function listReconsent(
  db: Kysely<DB>,
  clock: Clock,
  ctx: RequestContext,
  query: { purpose: string; reason: ReconsentReason } & PageRequest,
): Promise<ReconsentListT> {
  return withOrg(db, ctx.orgId, async (trx) => {
    const purpose = await trx
      .selectFrom('consent_purposes')
      .selectAll()
      .where('key', '=', query.purpose)
      .executeTakeFirst()
    if (purpose === undefined) throw new AppError('NOT_FOUND', 'no such purpose')
    const now = clock()
    const { items, nextCursor } = await affected(trx, ctx.orgId, purpose, query.reason, query, now)
    const hard = purpose.reconsent_hard_version
    return {
      purpose: purpose.key,
      reason: query.reason,
      subjects: items.map((row) => {
        if (query.reason === 'lifetime_ended') {
          const lapsed = (row.expires_at as Date).toISOString()
          return {
            subject: refText(row.subject_ref),
            eventId: row.event_id,
            noticeVersion: row.notice_version,
            since: lapsed,
            allowedUntil: lapsed,
          }
        }
        const since = purpose.reconsent_since ?? purpose.updated_at
        const grace =
          purpose.reconsent_grace_until !== null && (hard === null || (row.notice_version ?? 0) >= hard)
            ? purpose.reconsent_grace_until
            : since
        return {
          subject: refText(row.subject_ref),
          eventId: row.event_id,
          noticeVersion: row.notice_version,
          since: since.toISOString(),
          allowedUntil: grace.toISOString(),
        }
      }),
      nextCursor,
    }
  })
}

/**
 * The job: for each material change not yet told in full, the next batch of affected
 * subjects as one `consent.reconsent_required` delivery per subscribed webhook, and the
 * run's cursor moved past it, in one org transaction (a run locked by another process is
 * skipped, so two processes never send the same batch). Reads only the runs not done.
 * Returns how many batches it sent.
 */
export async function notifyReconsent(
  db: Kysely<DB>,
  webhooks: Pick<WebhooksService, 'enqueue'>,
  clock: Clock,
): Promise<number> {
  const refused = orgsNotServed(db) // P8.1
  const due = await withOwner(db, (trx) =>
    trx
      .selectFrom('consent_reconsent_runs')
      .select(['id', 'org_id'])
      .$if(refused.length > 0, (q) => q.where('org_id', 'not in', refused))
      .where('done_at', 'is', null)
      .orderBy('created_at')
      .limit(100)
      .execute(),
  )
  let batches = 0
  for (const run of due) {
    batches += await withOrg(db, run.org_id, async (trx) => {
      const row = await trx
        .selectFrom('consent_reconsent_runs')
        .selectAll()
        .where('id', '=', run.id)
        .where('done_at', 'is', null)
        .forUpdate()
        .skipLocked()
        .executeTakeFirst()
      if (row === undefined) return 0
      const purpose = await trx
        .selectFrom('consent_purposes')
        .select(['key'])
        .where('id', '=', row.purpose_id)
        .executeTakeFirst()
      let q = trx
        .selectFrom('consent_state as s')
        .select(['s.notice_version', 's.subject_ref'])
        .where('s.org_id', '=', row.org_id)
        .where('s.purpose_id', '=', row.purpose_id)
        .where('s.state', '=', 'granted')
        .where('s.notice_version', '<', row.version)
      if (row.cursor_version !== null && row.cursor_ref !== null)
        q = q.where(sql<boolean>`(s.notice_version, s.subject_ref) > (${row.cursor_version}, ${row.cursor_ref})`)
      const states = await q.orderBy('s.notice_version').orderBy('s.subject_ref').limit(RECONSENT_BATCH).execute()
      const last = states[states.length - 1]
      const now = clock()
      if (states.length > 0 && purpose !== undefined)
        await webhooks.enqueue(trx, row.org_id, RECONSENT_EVENT, {
          purpose: purpose.key,
          reason: 'material_change',
          noticeVersion: row.version,
          since: row.since.toISOString(),
          allowedUntil: (row.grace_until ?? row.since).toISOString(),
          batch: row.batches + 1,
          subjects: states.map((s) => refText(s.subject_ref)),
        })
      await trx
        .updateTable('consent_reconsent_runs')
        .set({
          cursor_version: last?.notice_version ?? row.cursor_version,
          cursor_ref: last?.subject_ref ?? row.cursor_ref,
          batches: states.length > 0 ? row.batches + 1 : row.batches,
          subjects: row.subjects + states.length,
          done_at: states.length < RECONSENT_BATCH || purpose === undefined ? now : null,
        })
        .where('id', '=', row.id)
        .execute()
      return states.length > 0 ? 1 : 0
    })
  }
  return batches
}

import { createHash, randomUUID } from 'node:crypto'
import { Zip, ZipDeflate } from 'fflate'
import type { Kysely } from 'kysely'
import type { Clock } from '../../clock.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { Signer } from '../../crypto/keys.ts'
import type { Page, PageRequest } from '../../db/page.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg } from '../../db/tenant.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { ReviewItemView, ReviewsService, ReviewView } from '../governance/reviews.service.ts'
import type { OffboardingService } from '../privacy/offboarding.service.ts'
import type { RequestsService } from '../privacy/requests.service.ts'
import type { IncidentsService, IncidentView } from '../response/incidents.service.ts'
import type { ComplianceService } from './compliance.service.ts'
import type { ComplianceDocuments } from './documents.ts'
import { oscalDocuments } from './documents.ts'
import { policyHtml, policyPdf, reportHtml, reportPdf } from './render.ts'
import { canonicalJson, signDocument } from './report.ts'

/**
 * The evidence bundle for auditors (issue 15; P5.4, P10.2): one ZIP holding the signed
 * compliance report and living policy (JSON, HTML, PDF), the OSCAL documents, the audit
 * chain's verification with its latest signed checkpoint, the closed access reviews, the
 * erasure (and, in the provider org, offboarding) certificates, the incidents and the
 * compliance history of the last {@link EVIDENCE_WINDOW_DAYS} days — with a manifest of every
 * file's SHA-256 signed like the report (`manifest.json.jws`), so `custodian verify-report`
 * checks the manifest and the manifest checks every file.
 *
 * Nothing in it is a secret or a personal value: people are named by user id (`user:<id>`),
 * never by email; certificates carry commitments only (see docs/compliance.md).
 */

/** The manifest's `format`. */
export const EVIDENCE_MANIFEST_FORMAT = 'custodian-evidence-manifest/v1'

/**
 * How far back the bundle reaches, in days: a SOC 2 Type II period (twelve months) with a
 * margin, so a bundle taken shortly after the period's end still covers all of it.
 */
export const EVIDENCE_WINDOW_DAYS = 400

/** Rows read per page from each source (the largest page the services serve). */
const PAGE = 500

const DAY_MS = 86_400_000

/** One file of the bundle as the manifest lists it. */
export interface ManifestEntry {
  /** Path inside the ZIP, `/`-separated. */
  path: string
  /** Hex SHA-256 of the file's bytes. */
  sha256: string
  /** Length in bytes. */
  bytes: number
  description: string
}

/** `manifest.json` (RFC 8785 canonical JSON), signed by `manifest.json.jws`. */
export interface EvidenceManifest {
  format: typeof EVIDENCE_MANIFEST_FORMAT
  /** The bundle's id (UUID v4): the signature's `id` and the audit event's target. */
  id: string
  org: { id: string; name: string }
  /** RFC 3339. */
  generatedAt: string
  /** The period the histories cover: `from` is `generatedAt` less {@link EVIDENCE_WINDOW_DAYS} days. */
  window: { from: string; to: string; days: number }
  service: { publicUrl: string; version: string }
  files: ManifestEntry[]
}

/** What the bundle reads, each through its own module's service, with the caller's context. */
export interface EvidenceSources {
  audit: Pick<AuditService, 'verify' | 'latestCheckpoint' | 'append'>
  reviews: Pick<ReviewsService, 'list' | 'items'>
  requests: Pick<RequestsService, 'certificates'>
  offboarding: Pick<OffboardingService, 'listAll'>
  incidents: Pick<IncidentsService, 'list' | 'get'>
  compliance: Pick<ComplianceService, 'history'>
}

/** A bundle ready to send: the audit event is recorded; the ZIP is deflated as it is read. */
export interface EvidenceBundle {
  filename: string
  manifest: EvidenceManifest
  /** Hex SHA-256 of `manifest.json`'s bytes (the audit event names it). */
  manifestSha256: string
  /** The ZIP, produced a file at a time as the consumer reads. */
  zip: AsyncIterable<Uint8Array>
}

export interface ComplianceEvidence {
  /**
   * Builds the caller's org's evidence bundle, records `compliance.evidence.export` (with the
   * manifest's SHA-256) in the org's audit log before any byte leaves, and returns the ZIP.
   * Reads every source one after another (PGlite has one connection). Throws NOT_FOUND for
   * an org that does not exist.
   */
  bundle(ctx: RequestContext): Promise<EvidenceBundle>
}

/** Every page of a listing, newest first, until a page ends or `older` says the rest is outside the window. */
async function collect<T>(read: (page: PageRequest) => Promise<Page<T>>, older: (item: T) => boolean): Promise<T[]> {
  const all: T[] = []
  let cursor: string | undefined
  for (;;) {
    const { items, nextCursor } = await read({ limit: PAGE, cursor })
    for (const item of items) {
      if (older(item)) return all
      all.push(item)
    }
    if (nextCursor === null) return all
    cursor = nextCursor
  }
}

/** An access review item without a person's email: members and grants are named by id. */
function reviewItemEvidence(item: ReviewItemView) {
  const { holderEmail: _holder, decidedByEmail: _decider, allowedDecisions: _allowed, label, ...rest } = item
  // A member's and a grant's label is the person's email; service accounts and tokens have names.
  return { ...rest, label: item.kind === 'member' || item.kind === 'grant' ? null : label }
}

function reviewEvidence(review: ReviewView) {
  const { startedByEmail: _started, closedByEmail: _closed, overdue: _overdue, ...rest } = review
  return rest
}

/** An incident without the emails of the people it names (`people`): they stay user ids. */
function incidentEvidence(incident: IncidentView) {
  const { people: _people, ...rest } = incident
  return rest
}

const json = (value: unknown): Buffer => canonicalJson(value)

const README = (m: {
  org: { id: string; name: string }
  generatedAt: string
  window: { from: string; to: string }
  publicUrl: string
}) => `Custodian evidence bundle
=========================

Org: ${m.org.name} (${m.org.id})
Generated: ${m.generatedAt}
Histories cover: ${m.window.from} to ${m.window.to}
Service: ${m.publicUrl}

How to verify this bundle
-------------------------

1. Verify the manifest's signature, offline, against the service's signing key
   (GET ${m.publicUrl}/v1/audit/keys, obtained separately from this bundle):

     custodian verify-report --file manifest.json --signature manifest.json.jws \\
       --public-key <the publicKey from /v1/audit/keys>

   It prints "OK   evidence-manifest (json) ..." and exits 0 when the signature is the
   key's and covers exactly these manifest bytes; "FAIL ..." and exit code 1 otherwise.

2. Check every file against the manifest: manifest.json lists each file's path, SHA-256
   and length. For example:

     sha256sum compliance-report.pdf      # must equal the manifest's sha256 for it

   A file whose hash differs from the manifest's was changed after the bundle was made.

What is in it
-------------

compliance-report.{json,html,pdf}  the compliance report: every promise, its checks and verdicts
security-policy.{json,html,pdf}    the living security policy, from the running configuration
oscal/catalog.json                 the promise catalogue as an OSCAL 1.1.3 catalog
oscal/component-definition.json    Custodian implementing it (OSCAL component-definition)
oscal/assessment-results.json      the report's evaluation (OSCAL assessment-results)
audit-verification.json            the org's audit chain verified end to end, and its latest
                                   signed checkpoint (a C2SP signed note to keep)
access-reviews.json                closed access review campaigns, every item's decision
erasure-certificates.json          signed erasure certificates (compact JWS, commitments only);
                                   in the provider org also the offboarding certificates
incidents.json                     incidents with their timelines and breach notifications
compliance-history.json            each change of a check's verdict

People are named by user id (user:<id>), never by email address. The report, the policy,
the certificates and the checkpoint are also signed by the same key on their own.
`

/**
 * The evidence bundle (see the module comment): built from the org's documents and the
 * services of the audit, governance, privacy and response modules.
 */
export function createComplianceEvidence(deps: {
  db: Kysely<DB>
  clock: Clock
  signer: Signer
  documents: Pick<ComplianceDocuments, 'build'>
  sources: EvidenceSources
  service: { publicUrl: string; version: string }
  providerOrgId: () => Promise<string | undefined>
}): ComplianceEvidence {
  const { sources } = deps

  return {
    async bundle(ctx) {
      const orgId = ctx.orgId
      const { report, policy } = await deps.documents.build(orgId)
      const generatedAt = report.generatedAt
      const to = new Date(generatedAt)
      const from = new Date(to.getTime() - EVIDENCE_WINDOW_DAYS * DAY_MS)
      const older = (at: string | null) => at !== null && new Date(at).getTime() < from.getTime()
      const window = { from: from.toISOString(), to: generatedAt, days: EVIDENCE_WINDOW_DAYS }
      const files: { path: string; bytes: Buffer; description: string }[] = []
      const add = (path: string, bytes: Buffer, description: string) => files.push({ path, bytes, description })

      add('compliance-report.json', json(report), 'the compliance report (custodian-compliance-report/v1, RFC 8785)')
      add('compliance-report.html', Buffer.from(reportHtml(report), 'utf8'), 'the compliance report as a page')
      add('compliance-report.pdf', await reportPdf(report), 'the compliance report as PDF')
      add('security-policy.json', json(policy), 'the living security policy (custodian-security-policy/v1)')
      add('security-policy.html', Buffer.from(policyHtml(policy), 'utf8'), 'the living security policy as a page')
      add('security-policy.pdf', await policyPdf(policy), 'the living security policy as PDF')

      const oscal = oscalDocuments(report, deps.service)
      add('oscal/catalog.json', json(oscal.catalog), 'the promise catalogue (OSCAL 1.1.3 catalog)')
      add(
        'oscal/component-definition.json',
        json(oscal.componentDefinition),
        'Custodian implementing the catalogue (OSCAL 1.1.3 component-definition)',
      )
      add(
        'oscal/assessment-results.json',
        json(oscal.assessmentResults),
        'the report’s evaluation (OSCAL 1.1.3 assessment-results)',
      )

      // One source after another: PGlite has a single connection, so no read overlaps another.
      const verification = await sources.audit.verify(orgId)
      const checkpoint = await sources.audit.latestCheckpoint(orgId)
      add(
        'audit-verification.json',
        json({
          format: 'custodian-evidence-audit-verification/v1',
          verifiedAt: deps.clock().toISOString(),
          verification,
          latestCheckpoint: checkpoint ?? null,
        }),
        'the org’s audit chain verified end to end, and its latest signed checkpoint (C2SP signed note)',
      )

      const reviews = await collect(
        (page) => sources.reviews.list(ctx, page),
        (r) => older(r.startedAt),
      )
      const closed = []
      for (const review of reviews.filter((r) => r.status === 'closed')) {
        const items = await collect(
          (page) => sources.reviews.items(ctx, review.id, page, {}),
          () => false,
        )
        closed.push({ ...reviewEvidence(review), items: items.map(reviewItemEvidence) })
      }
      add(
        'access-reviews.json',
        json({ format: 'custodian-evidence-access-reviews/v1', window, reviews: closed }),
        'closed access review campaigns started in the window, with every item’s decision',
      )

      const certificates = await collect(
        (page) => sources.requests.certificates(ctx, page),
        (c) => older(c.issuedAt),
      )
      const provider = (await deps.providerOrgId()) === orgId
      const offboardings = provider
        ? (
            await collect(
              (page) => sources.offboarding.listAll(ctx, page),
              (o) => older(o.requestedAt),
            )
          ).filter((o) => o.status === 'completed' && o.certificate !== null)
        : []
      add(
        'erasure-certificates.json',
        json({
          format: 'custodian-evidence-certificates/v1',
          window,
          erasureCertificates: certificates.map((c) => ({
            id: c.id,
            requestId: c.requestId,
            issuedAt: c.issuedAt,
            jws: c.jws,
            auditEvent: c.auditEvent,
          })),
          ...(provider
            ? {
                offboardingCertificates: offboardings.map((o) => ({
                  orgId: o.orgId,
                  requestedAt: o.requestedAt,
                  completedAt: o.completedAt,
                  jws: o.certificate,
                  auditEvent: o.auditEvent,
                })),
              }
            : {}),
        }),
        provider
          ? 'erasure certificates issued in the window, and the offboarding certificates of orgs whose deletion was asked in it (compact JWS)'
          : 'erasure certificates issued in the window (compact JWS)',
      )

      const listed = await collect(
        (page) => sources.incidents.list(ctx, page),
        (i) => older(i.openedAt),
      )
      const incidents = []
      for (const incident of listed) incidents.push(incidentEvidence(await sources.incidents.get(ctx, incident.id)))
      add(
        'incidents.json',
        json({ format: 'custodian-evidence-incidents/v1', window, incidents }),
        'incidents opened in the window, with their steps, timelines, links and breach notifications',
      )

      const history = await collect(
        (page) => sources.compliance.history(ctx, page),
        (h) => older(h.ranAt),
      )
      add(
        'compliance-history.json',
        json({ format: 'custodian-evidence-compliance-history/v1', window, history }),
        'each change of a check’s verdict or summary in the window',
      )

      add(
        'README.txt',
        Buffer.from(README({ org: report.org, generatedAt, window, publicUrl: deps.service.publicUrl }), 'utf8'),
        'how to verify this bundle',
      )

      const manifest: EvidenceManifest = {
        format: EVIDENCE_MANIFEST_FORMAT,
        id: randomUUID(),
        org: report.org,
        generatedAt,
        window,
        service: deps.service,
        files: files.map((f) => ({
          path: f.path,
          sha256: createHash('sha256').update(f.bytes).digest('hex'),
          bytes: f.bytes.length,
          description: f.description,
        })),
      }
      const manifestBytes = json(manifest)
      const manifestSha256 = createHash('sha256').update(manifestBytes).digest('hex')
      const signature = signDocument(deps.signer, manifestBytes, {
        document: 'evidence-manifest',
        format: 'json',
        id: manifest.id,
        orgId,
        generatedAt,
      })

      // The bundle is an egress of the org's evidence: recorded before the first byte leaves.
      await withOrg(deps.db, orgId, (trx) =>
        sources.audit.append(trx, {
          orgId,
          actor: actorOf(ctx.principal),
          action: 'compliance.evidence.export',
          target: { type: 'evidence_bundle', id: manifest.id },
          outcome: 'success',
          details: { manifestSha256, files: manifest.files.length, window },
          meta: ctx.meta,
        }),
      )

      const entries = [
        ...files.map((f) => ({ path: f.path, bytes: f.bytes })),
        { path: 'manifest.json', bytes: manifestBytes },
        { path: 'manifest.json.jws', bytes: Buffer.from(`${signature}\n`, 'utf8') },
      ]
      return {
        filename: `evidence-${generatedAt.slice(0, 19).replaceAll(':', '').replace('T', '-')}.zip`,
        manifest,
        manifestSha256,
        zip: zipOf(entries, to),
      }
    },
  }
}

/**
 * A ZIP (APPNOTE 6.3.x, deflated entries) of `entries`, produced one entry at a time as the
 * consumer pulls (fflate's streaming `Zip`): the archive is never held whole in memory.
 */
async function* zipOf(entries: { path: string; bytes: Buffer }[], mtime: Date): AsyncGenerator<Uint8Array> {
  const ready: Uint8Array[] = []
  const state: { failure: Error | undefined } = { failure: undefined }
  const zip = new Zip((error, chunk) => {
    if (error !== null) state.failure = error
    else ready.push(chunk)
  })
  for (const entry of entries) {
    const file = new ZipDeflate(entry.path, { level: 6 })
    file.mtime = mtime
    zip.add(file)
    file.push(entry.bytes, true)
    if (state.failure !== undefined) throw state.failure
    yield* ready.splice(0)
  }
  zip.end()
  if (state.failure !== undefined) throw state.failure
  yield* ready.splice(0)
}

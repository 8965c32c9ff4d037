import { contextAad, open, seal } from '../../crypto/aead.ts'
import type { Trx } from '../../db/tenant.ts'
import { canonicalJson } from '../audit/audit.format.ts'
import type { Subjects } from '../privacy/subjects.ts'
import type { Keyring } from '../vault/vault.keyring.ts'

/**
 * How a vulnerability report is kept (P1.3, P7.1):
 *
 * - its details, attachments and messages are sealed under a data key of the report's
 *   own, wrapped by the provider org's key (rotated with it, vault.rotation.ts);
 * - the reporter's contact is sealed under the reporter's data-subject key: a reporter
 *   who asks to be erased is erased from every report by the privacy module's erasure,
 *   and what they reported stays.
 *
 * A reporter is the data subject `vulnerability-reporter:<e-mail, lower case>`, or
 * `vulnerability-report:<report id>` when they left a name and no address.
 */
export interface ReportDetails {
  title: string
  location: string
  impact: string
  steps: string
}

export interface ReporterContact {
  name: string | null
  email: string | null
  credit: boolean
}

export const reportObject = (id: string) => `vulnerability-report/${id}`
const PURPOSE = 'vulnerability-report'
const CONTACT = 'vulnerability-reporter'

export function reporterSubject(reportId: string, contact: ReporterContact): string {
  return contact.email === null
    ? `vulnerability-report:${reportId}`
    : `vulnerability-reporter:${contact.email.toLowerCase()}`
}

export interface ReportKey {
  dek: Buffer
  orgId: string
  reportId: string
}

export function createReportSealing(deps: { keyring: Keyring; subjects: Subjects }) {
  const { keyring, subjects } = deps
  const aad = (key: ReportKey, part: string) =>
    contextAad({ purpose: PURPOSE, org: key.orgId, object: `${key.reportId}/${part}`, version: 1 })

  return {
    async newKey(
      trx: Trx,
      orgId: string,
      reportId: string,
    ): Promise<{ key: ReportKey; wrapped: Buffer; kekVersion: number }> {
      const fresh = await keyring.newDataKey(trx, orgId, reportObject(reportId), 1)
      return { key: { dek: fresh.dek, orgId, reportId }, wrapped: fresh.wrapped, kekVersion: fresh.kekVersion }
    },
    async openKey(
      trx: Trx,
      row: { org_id: string; id: string; kek_version: number; dek_wrapped: Uint8Array },
    ): Promise<ReportKey> {
      return {
        dek: await keyring.openDataKey(trx, row.org_id, reportObject(row.id), 1, row.kek_version, row.dek_wrapped),
        orgId: row.org_id,
        reportId: row.id,
      }
    },
    seal: (key: ReportKey, part: string, value: unknown): Buffer =>
      seal(key.dek, Buffer.from(canonicalJson(value), 'utf8'), aad(key, part)),
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- authenticated JSON this module sealed: the caller names the type it sealed
    open: <T>(key: ReportKey, part: string, sealed: Uint8Array): T =>
      JSON.parse(open(key.dek, sealed, aad(key, part)).toString('utf8')) as T,
    sealBytes: (key: ReportKey, part: string, bytes: Buffer): Buffer => seal(key.dek, bytes, aad(key, part)),
    openBytes: (key: ReportKey, part: string, sealed: Uint8Array): Buffer => open(key.dek, sealed, aad(key, part)),

    /** Seals the contact under the reporter's subject key (created on first use). */
    async sealContact(
      trx: Trx,
      orgId: string,
      reportId: string,
      contact: ReporterContact,
    ): Promise<{ subjectRef: Buffer; sealed: Buffer }> {
      const key = await subjects.key(trx, orgId, reporterSubject(reportId, contact), { create: true })
      if (key === undefined) throw new Error('a subject key could not be made')
      return { subjectRef: key.ref, sealed: subjects.seal(key, orgId, CONTACT, reportId, contact) }
    },
    /** The contact, or null once the reporter was erased; `restricted` when processing is restricted. */
    async openContact(
      trx: Trx,
      row: { org_id: string; id: string; subject_ref: Uint8Array | null; contact_sealed: Uint8Array | null },
    ): Promise<{ contact: ReporterContact; restricted: boolean } | null> {
      if (row.subject_ref === null || row.contact_sealed === null) return null
      const key = await subjects.keyByRef(trx, row.org_id, Buffer.from(row.subject_ref))
      if (key === undefined) return null
      return {
        contact: subjects.open<ReporterContact>(key, row.org_id, CONTACT, row.id, row.contact_sealed),
        restricted: key.restricted,
      }
    },
  }
}

export type ReportSealing = ReturnType<typeof createReportSealing>

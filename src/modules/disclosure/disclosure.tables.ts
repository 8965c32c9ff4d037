import type { Generated } from 'kysely'

export type ReportStatus = 'received' | 'acknowledged' | 'triaged' | 'fixing' | 'resolved' | 'rejected' | 'duplicate'
export type ReportSeverity = 'low' | 'medium' | 'high' | 'critical'

export interface VulnerabilityReportsTable {
  id: string
  org_id: string
  /** What the reporter and the team call it: VR- and ten base-32 characters. */
  reference: string
  token_hash: Buffer
  status: ReportStatus
  reported_severity: ReportSeverity | null
  severity: ReportSeverity | null
  dek_wrapped: Buffer
  kek_version: number
  details_sealed: Buffer
  subject_ref: Buffer | null
  contact_sealed: Buffer | null
  received_at: Date
  ack_due_at: Date
  acknowledged_at: Date | null
  ack_reminded_at: Date | null
  ack_overdue_at: Date | null
  closed_at: Date | null
  updated_at: Date
}

export interface VulnerabilityReportAttachmentsTable {
  report_id: string
  org_id: string
  idx: number
  filename: string
  content_type: string
  size: number
  sha256: string
  sealed: Buffer
}

export interface VulnerabilityReportMessagesTable {
  id: string
  report_id: string
  org_id: string
  at: Date
  author: 'team' | 'reporter'
  author_user_id: string | null
  status: ReportStatus | null
  internal: Generated<boolean>
  body_sealed: Buffer | null
}

export interface DisclosureTables {
  vulnerability_reports: VulnerabilityReportsTable
  vulnerability_report_attachments: VulnerabilityReportAttachmentsTable
  vulnerability_report_messages: VulnerabilityReportMessagesTable
}

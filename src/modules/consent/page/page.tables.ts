/** Links to the hosted preference page (migration 0045). */
export interface ConsentPageLinksTable {
  id: string
  org_id: string
  subject_ref: Buffer
  /** The subject id, AES-256-GCM under a key derived from the live secret: nonce ‖ ciphertext ‖ tag. */
  subject_sealed: Buffer
  link_hash: Buffer
  session_hash: Buffer | null
  created_by_type: string
  created_by_id: string | null
  created_at: Date
  expires_at: Date
  opened_at: Date | null
  session_expires_at: Date | null
  gpc_applied_at: Date | null
}

export interface ConsentPageTables {
  consent_page_links: ConsentPageLinksTable
}

import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto'
import { contextAad, open, seal } from '../../crypto/aead.ts'
import type { Trx } from '../../db/tenant.ts'
import { canonicalJson } from '../audit/audit.format.ts'
import type { ShredRing } from '../../crypto/shred-ring.ts'
import type { Keyring } from '../vault/vault.keyring.ts'

/**
 * Data subjects' keys (P7.1, P7.2, P1.3). Each (org, subject) has its own data key,
 * wrapped by the org key like any data key (so org-key rotation rewraps it). The subject
 * id is never stored in clear: rows are found by `ref` = HMAC(org, subject id).
 *
 * A subject key is wrapped twice: by the org key (under the root key) and then by a
 * shred-ring key held outside the database (crypto/shred-ring.ts). Shredding a subject
 * erases its wrapped key in the database at once; the ring worker then retires the ring
 * key that sealed it, after which no earlier copy of the database can open it either.
 * A later record for the same subject gets a fresh key.
 */
export interface SubjectKey {
  ref: Buffer
  keyId: string
  dek: Buffer
  restricted: boolean
}

export interface Subjects {
  ref(orgId: string, subjectId: string): Buffer
  /** The subject's key; created (or renewed after a shred) when `create` is set. */
  key(trx: Trx, orgId: string, subjectId: string, options: { create: boolean }): Promise<SubjectKey | undefined>
  /** The key of a subject known only by its ref (a record read by id); undefined once shredded. */
  keyByRef(trx: Trx, orgId: string, subjectRef: Buffer): Promise<SubjectKey | undefined>
  seal(key: SubjectKey, orgId: string, purpose: string, object: string, value: unknown): Buffer
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- authenticated JSON this module sealed: the caller names the type it sealed
  open<T>(key: SubjectKey, orgId: string, purpose: string, object: string, sealed: Uint8Array): T
  /**
   * Personal fields for an audit event: sealed with the subject's key, and committed by
   * a salted SHA-256 that the chained event carries instead of the values.
   */
  personal(
    trx: Trx,
    orgId: string,
    subjectId: string,
    fields: Record<string, unknown>,
  ): Promise<{ subjectRef: Buffer; commitment: string; sealed: Buffer }>
  openPersonal(
    key: SubjectKey,
    orgId: string,
    eventId: string,
    sealed: Uint8Array,
  ): { commitment: string; fields: Record<string, unknown> }
  /**
   * Erases the subject's key (crypto-shredding) and says which ring key sealed it (the
   * one to retire for the erasure to reach backups); undefined if there was none.
   */
  shred(trx: Trx, orgId: string, subjectId: string): Promise<{ bucket: number; epoch: number } | undefined>
  setRestricted(trx: Trx, orgId: string, subjectId: string, restricted: boolean): Promise<boolean>
}

const PERSONAL = 'audit-personal'

export function personalCommitment(salt: Buffer, fields: Record<string, unknown>): string {
  return `sha256:${createHash('sha256').update(salt).update(canonicalJson(fields), 'utf8').digest('hex')}`
}

export function createSubjects(deps: { keyring: Keyring; ring: ShredRing; refKey: Buffer }): Subjects {
  const { keyring, ring } = deps
  const aadOf = (orgId: string, purpose: string, object: string) =>
    contextAad({ purpose, org: orgId, object, version: 1 })

  function ref(orgId: string, subjectId: string): Buffer {
    return createHmac('sha256', deps.refKey).update(`subject-ref\0${orgId}\0${subjectId}`, 'utf8').digest()
  }

  async function keyByRef(trx: Trx, orgId: string, subjectRef: Buffer) {
    const row = await trx
      .selectFrom('subject_keys')
      .selectAll()
      .where('subject_ref', '=', subjectRef)
      .executeTakeFirst()
    if (row === undefined || row.wrapped_key === null || row.kek_version === null) return { row, key: undefined }
    const kekWrapped =
      row.ring_epoch === null
        ? row.wrapped_key
        : ring.open(row.ring_bucket as number, row.ring_epoch, row.wrapped_key, `subject/${row.key_id}`)
    const dek = await keyring.openDataKey(trx, orgId, `subject/${row.key_id}`, 1, row.kek_version, kekWrapped)
    return { row, key: { ref: subjectRef, keyId: row.key_id, dek, restricted: row.restricted_at !== null } }
  }

  async function key(
    trx: Trx,
    orgId: string,
    subjectId: string,
    options: { create: boolean },
  ): Promise<SubjectKey | undefined> {
    const subjectRef = ref(orgId, subjectId)
    const { row, key: existing } = await keyByRef(trx, orgId, subjectRef)
    if (existing !== undefined) return existing
    if (!options.create) return undefined
    const keyId = randomUUID()
    const fresh = await keyring.newDataKey(trx, orgId, `subject/${keyId}`, 1)
    const bucket = ring.bucketOf(subjectRef)
    const epoch = ring.current(bucket)
    const wrapped = ring.seal(bucket, epoch, fresh.wrapped, `subject/${keyId}`)
    const values = {
      key_id: keyId,
      kek_version: fresh.kekVersion,
      wrapped_key: wrapped,
      ring_bucket: bucket,
      ring_epoch: epoch,
      shredded_at: null,
    }
    // Only a shredded key is renewed. Two transactions bringing a new subject at once both
    // get here: the second waits on the first's row, and must then take the first's key —
    // replacing it would leave what the first sealed under a key that no longer exists.
    const written = await trx
      .insertInto('subject_keys')
      .values({ org_id: orgId, subject_ref: subjectRef, restricted_at: null, ...values })
      .onConflict((oc) =>
        oc.columns(['org_id', 'subject_ref']).doUpdateSet(values).where('subject_keys.shredded_at', 'is not', null),
      )
      .returning('key_id')
      .executeTakeFirst()
    if (written === undefined) {
      const theirs = (await keyByRef(trx, orgId, subjectRef)).key
      if (theirs === undefined) throw new Error('a subject key created concurrently is missing')
      return theirs
    }
    return { ref: subjectRef, keyId, dek: fresh.dek, restricted: row?.restricted_at != null }
  }

  const subjects: Subjects = {
    ref,
    key,
    keyByRef: async (trx, orgId, subjectRef) => (await keyByRef(trx, orgId, subjectRef)).key,

    seal(k, orgId, purpose, object, value) {
      return seal(k.dek, Buffer.from(canonicalJson(value), 'utf8'), aadOf(orgId, purpose, `${k.keyId}/${object}`))
    },

    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- authenticated JSON this module sealed: the caller names the type it sealed
    open<T>(k: SubjectKey, orgId: string, purpose: string, object: string, sealed: Uint8Array): T {
      return JSON.parse(open(k.dek, sealed, aadOf(orgId, purpose, `${k.keyId}/${object}`)).toString('utf8')) as T
    },

    async personal(trx, orgId, subjectId, fields) {
      const k = (await key(trx, orgId, subjectId, { create: true })) as SubjectKey
      const salt = randomBytes(16)
      const commitment = personalCommitment(salt, fields)
      // The event id is not known yet: the AAD binds the subject key, and the commitment
      // inside binds the content; a sealed blob moved to another event fails its commitment.
      const sealed = subjects.seal(k, orgId, PERSONAL, 'event', { salt: salt.toString('base64url'), fields })
      return { subjectRef: k.ref, commitment, sealed }
    },

    openPersonal(k, orgId, _eventId, sealed) {
      const { salt, fields } = subjects.open<{ salt: string; fields: Record<string, unknown> }>(
        k,
        orgId,
        PERSONAL,
        'event',
        sealed,
      )
      return { commitment: personalCommitment(Buffer.from(salt, 'base64url'), fields), fields }
    },

    async shred(trx, orgId, subjectId) {
      const subjectRef = ref(orgId, subjectId)
      const row = await trx
        .selectFrom('subject_keys')
        .select(['ring_bucket', 'ring_epoch'])
        .where('subject_ref', '=', subjectRef)
        .where('shredded_at', 'is', null)
        .forUpdate()
        .executeTakeFirst()
      if (row === undefined) return undefined
      await trx
        .updateTable('subject_keys')
        .set({ wrapped_key: null, kek_version: null, shredded_at: new Date() })
        .where('subject_ref', '=', subjectRef)
        .execute()
      const bucket = row.ring_bucket ?? ring.bucketOf(subjectRef)
      const epoch = row.ring_epoch ?? ring.current(bucket)
      // The ring worker retires this epoch: then earlier database copies cannot open the key.
      await trx
        .insertInto('shred_ring_pending')
        .values({ bucket, epoch })
        .onConflict((oc) => oc.doNothing())
        .execute()
      return { bucket, epoch }
    },

    async setRestricted(trx, orgId, subjectId, restricted) {
      await key(trx, orgId, subjectId, { create: true })
      const result = await trx
        .updateTable('subject_keys')
        .set({ restricted_at: restricted ? new Date() : null })
        .where('subject_ref', '=', ref(orgId, subjectId))
        .where('restricted_at', restricted ? 'is' : 'is not', null)
        .executeTakeFirst()
      return Number(result.numUpdatedRows) === 1
    },
  }
  return subjects
}

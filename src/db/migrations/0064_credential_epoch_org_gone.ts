import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * A credential of an org that no longer exists is never confirmed (issue 18, P2.6).
 *
 * An org deleted (offboarded) takes its `credential_epochs` row with it, and its cascaded
 * changes raise nothing (the org is gone when its tokens', sessions' and memberships'
 * triggers run; nothing is notified either). Migration 0063's check read a missing row as
 * epoch 0, so a credential cached while the org had never had a credential change (epoch 0)
 * still passed it after the org was erased, and could write rows for that org again. The
 * check now reads the epoch through the org's row: no org, no epoch, and the statement fails
 * as for a moved epoch — the credential is read again and is gone.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE OR REPLACE FUNCTION custodian_credential_epoch_is(org uuid, expected bigint) RETURNS boolean
      LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
        BEGIN
          IF (SELECT COALESCE(e.epoch, 0) FROM orgs o LEFT JOIN credential_epochs e ON e.org_id = o.id
               WHERE o.id = org) IS DISTINCT FROM expected THEN
            RAISE EXCEPTION 'the credential changed since it was checked' USING ERRCODE = 'YC001';
          END IF;
          RETURN true;
        END
      $$;
    `,
  )
}

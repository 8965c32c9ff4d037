import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Data residency (P8.2; src/modules/ops/residency.ts): the region an org is pinned to.
 * NULL for an org created where no region is configured; set once — at creation, or at the
 * first start with `CUSTODIAN_REGION` — and never changed after: the trigger refuses any
 * UPDATE that would move an org, whoever sends it (the owner role included).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    ALTER TABLE orgs ADD COLUMN region text CHECK (region ~ '^[a-z][a-z0-9-]{0,31}$');
    CREATE FUNCTION orgs_region_pinned() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF OLD.region IS NOT NULL AND NEW.region IS DISTINCT FROM OLD.region THEN
        RAISE EXCEPTION 'org % is pinned to region %; an org never moves (P8.2)', OLD.id, OLD.region
          USING ERRCODE = 'check_violation';
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER orgs_region_pinned BEFORE UPDATE OF region ON orgs
      FOR EACH ROW EXECUTE FUNCTION orgs_region_pinned();
    `,
  )
}

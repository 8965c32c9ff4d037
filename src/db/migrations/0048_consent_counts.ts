import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Counters of the consent projection (P7.7; docs/consent.md#reports), so the org's report
 * reads a few rows per purpose and notice version, never one per data subject.
 *
 * - `consent_state_counts`: how many subjects are in each state, per purpose and notice
 *   version (`notice_version` 0 when the state has none), split over 16 slots by the
 *   writer's backend pid (as `org_principal_counts`, 0030) so that concurrent writers seldom
 *   wait on the same counter row; the report adds the slots up (a slot may go below zero).
 * - Rows of an org or purpose being deleted (their states go by cascade) count nowhere.
 * - A subject counts while the key its state was recorded under is alive: the trigger on
 *   `consent_state` moves one subject between counters when its state, purpose or notice
 *   version changes (reading the subject's key by primary key), and the trigger on
 *   `subject_keys` takes an erased subject's states out of the counts when its key is
 *   shredded (one row per purpose the subject had). Both run in the writer's transaction
 *   and as its role, under the org's row-level security.
 * - Filled from the existing states.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE consent_state_counts (
      org_id uuid NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
      purpose_id uuid NOT NULL REFERENCES consent_purposes (id) ON DELETE CASCADE,
      notice_version integer NOT NULL,
      state text NOT NULL,
      slot smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
      subjects bigint NOT NULL,
      PRIMARY KEY (org_id, purpose_id, notice_version, state, slot)
    );
    ALTER TABLE consent_state_counts ENABLE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON consent_state_counts TO custodian_app
      USING (org_id = custodian_current_org()) WITH CHECK (org_id = custodian_current_org());
    GRANT SELECT, INSERT, UPDATE ON consent_state_counts TO custodian_app;

    CREATE FUNCTION custodian_consent_count(o uuid, p uuid, v integer, s text, delta integer)
      RETURNS void LANGUAGE sql AS $$
      INSERT INTO consent_state_counts AS c (org_id, purpose_id, notice_version, state, slot, subjects)
        SELECT o, p, coalesce(v, 0), s, pg_backend_pid() % 16, delta
         WHERE EXISTS (SELECT 1 FROM orgs WHERE id = o) AND EXISTS (SELECT 1 FROM consent_purposes WHERE id = p)
        ON CONFLICT (org_id, purpose_id, notice_version, state, slot)
        DO UPDATE SET subjects = c.subjects + excluded.subjects
    $$;

    CREATE FUNCTION custodian_consent_state_counted() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      old_counted boolean := false;
      new_counted boolean := false;
      moved boolean := true;
    BEGIN
      IF TG_OP <> 'INSERT' THEN
        old_counted := EXISTS (SELECT 1 FROM subject_keys k WHERE k.org_id = OLD.org_id
          AND k.subject_ref = OLD.subject_ref AND k.key_id = OLD.subject_key_id AND k.shredded_at IS NULL);
      END IF;
      IF TG_OP <> 'DELETE' THEN
        new_counted := EXISTS (SELECT 1 FROM subject_keys k WHERE k.org_id = NEW.org_id
          AND k.subject_ref = NEW.subject_ref AND k.key_id = NEW.subject_key_id AND k.shredded_at IS NULL);
      END IF;
      IF TG_OP = 'UPDATE' THEN
        moved := OLD.state IS DISTINCT FROM NEW.state OR OLD.purpose_id IS DISTINCT FROM NEW.purpose_id
          OR OLD.notice_version IS DISTINCT FROM NEW.notice_version;
      END IF;
      IF old_counted AND (moved OR NOT new_counted) THEN
        PERFORM custodian_consent_count(OLD.org_id, OLD.purpose_id, OLD.notice_version, OLD.state, -1);
      END IF;
      IF new_counted AND (moved OR NOT old_counted) THEN
        PERFORM custodian_consent_count(NEW.org_id, NEW.purpose_id, NEW.notice_version, NEW.state, 1);
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER consent_state_counted AFTER INSERT OR UPDATE OR DELETE ON consent_state
      FOR EACH ROW EXECUTE FUNCTION custodian_consent_state_counted();

    CREATE FUNCTION custodian_consent_subject_shredded() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM custodian_consent_count(s.org_id, s.purpose_id, s.notice_version, s.state, -1)
        FROM consent_state s
       WHERE s.org_id = OLD.org_id AND s.subject_ref = OLD.subject_ref AND s.subject_key_id = OLD.key_id;
      RETURN NULL;
    END $$;
    CREATE TRIGGER consent_subject_shredded AFTER UPDATE ON subject_keys
      FOR EACH ROW WHEN (OLD.shredded_at IS NULL AND NEW.shredded_at IS NOT NULL)
      EXECUTE FUNCTION custodian_consent_subject_shredded();

    INSERT INTO consent_state_counts (org_id, purpose_id, notice_version, state, slot, subjects)
      SELECT s.org_id, s.purpose_id, coalesce(s.notice_version, 0), s.state, 0, count(*)
        FROM consent_state s
        JOIN subject_keys k ON k.org_id = s.org_id AND k.subject_ref = s.subject_ref
       WHERE k.key_id = s.subject_key_id AND k.shredded_at IS NULL
       GROUP BY 1, 2, 3, 4;
    `,
  )
}

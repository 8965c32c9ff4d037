import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * The channel each credential change is notified on (`NOTIFY`, the org id as payload), at
 * commit: processes drop the org's cached credentials at once, so even the code a request
 * runs before its first transaction rarely sees a stale copy. Never renamed: the migration
 * holds it.
 */
export const CREDENTIALS_CHANNEL = 'custodian_credentials'

/**
 * Credential epochs (issue 18, P2.6): a counter per org that every change to what an
 * authenticated request's principal is made of raises in the changing transaction — a token
 * or session revoked or changed, a membership, service account or custom role changed, the
 * org's security policy, a member's second factor. A process may keep a credential it has
 * checked (src/modules/identity/credential-cache.ts) together with the org's epoch it read in
 * the same statement; each request re-checks that epoch in the statement that opens its first
 * transaction (`custodian_credential_epoch_is`, src/db/tenant.ts), so a revocation is seen by
 * every process on the first request that starts after it commits — no time to live.
 *
 * What does not raise it, because no principal already checked depends on it: a new token or
 * session (nobody holds it yet), and the columns written as a credential is used (a token's
 * `last_used_at`, a session's `last_seen_at`, a passkey's counter, a TOTP's last counter).
 *
 * The counter row is taken with `INSERT … ON CONFLICT DO UPDATE`, so two transactions changing
 * one org's credentials wait for each other at that row, and the later one's epoch is the
 * higher: whoever reads the epoch reads one committed with the change, never before it. An org
 * deleted in the same transaction (its rows going by cascade) gets no row.
 *
 * Each change is also notified (`NOTIFY custodian_credentials, '<org id>'`) when it
 * commits; a process drops the org's cached credentials on it, and all of them when its
 * listening connection drops.
 *
 * The table holds no tenant data; row-level security is on with no policy (only the owner,
 * and the two SECURITY DEFINER functions below, read or write it).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE credential_epochs (
      org_id uuid PRIMARY KEY REFERENCES orgs (id) ON DELETE CASCADE,
      epoch bigint NOT NULL
    );
    ALTER TABLE credential_epochs ENABLE ROW LEVEL SECURITY;

    CREATE FUNCTION custodian_bump_credential_epoch(orgs_changed uuid[]) RETURNS void
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
        DECLARE
          changed uuid;
        BEGIN
          FOR changed IN
            INSERT INTO credential_epochs (org_id, epoch)
            SELECT o.id, 1 FROM orgs o WHERE o.id = ANY (orgs_changed) ORDER BY o.id
            ON CONFLICT (org_id) DO UPDATE SET epoch = credential_epochs.epoch + 1
            RETURNING org_id
          LOOP
            -- Delivered at commit, to every process listening: each drops the org's credentials.
            PERFORM pg_notify('${CREDENTIALS_CHANNEL}', changed::text);
            -- At once, to the connection making the change: its own process drops them before
            -- it answers, whatever the notification's delay.
            RAISE NOTICE '${CREDENTIALS_CHANNEL}:%', changed;
          END LOOP;
        END
      $$;
    REVOKE ALL ON FUNCTION custodian_bump_credential_epoch(uuid[]) FROM PUBLIC;

    -- Raises SQLSTATE YC001 unless the org's epoch is still the one a cached credential was
    -- read with: the statement that opens a request's transaction fails, nothing has run.
    CREATE FUNCTION custodian_credential_epoch_is(org uuid, expected bigint) RETURNS boolean
      LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public AS $$
        BEGIN
          -- No row: epoch 0 while the org exists; an org deleted since matches nothing.
          IF COALESCE((SELECT e.epoch FROM credential_epochs e WHERE e.org_id = org),
                      CASE WHEN EXISTS (SELECT 1 FROM orgs o WHERE o.id = org) THEN 0 END) IS DISTINCT FROM expected THEN
            RAISE EXCEPTION 'the credential changed since it was checked' USING ERRCODE = 'YC001';
          END IF;
          RETURN true;
        END
      $$;
    REVOKE ALL ON FUNCTION custodian_credential_epoch_is(uuid, bigint) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION custodian_credential_epoch_is(uuid, bigint) TO custodian_app;

    -- Tables whose rows carry the org (an update may move a row: both orgs).
    CREATE FUNCTION custodian_credential_changed_in_org() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
        BEGIN
          IF TG_OP = 'INSERT' THEN
            PERFORM custodian_bump_credential_epoch(ARRAY[NEW.org_id]);
          ELSIF TG_OP = 'UPDATE' THEN
            PERFORM custodian_bump_credential_epoch(ARRAY[NEW.org_id, OLD.org_id]);
          ELSE
            PERFORM custodian_bump_credential_epoch(ARRAY[OLD.org_id]);
          END IF;
          RETURN NULL;
        END
      $$;
    -- Tables of a person (a second factor): every org the person is a member of.
    CREATE FUNCTION custodian_credential_changed_for_user() RETURNS trigger
      LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
        DECLARE
          people uuid[];
        BEGIN
          IF TG_OP = 'INSERT' THEN
            people := ARRAY[NEW.user_id];
          ELSIF TG_OP = 'UPDATE' THEN
            people := ARRAY[NEW.user_id, OLD.user_id];
          ELSE
            people := ARRAY[OLD.user_id];
          END IF;
          PERFORM custodian_bump_credential_epoch(ARRAY(
            SELECT DISTINCT m.org_id FROM memberships m WHERE m.user_id = ANY (people)));
          RETURN NULL;
        END
      $$;
    REVOKE ALL ON FUNCTION custodian_credential_changed_in_org() FROM PUBLIC;
    REVOKE ALL ON FUNCTION custodian_credential_changed_for_user() FROM PUBLIC;

    `,
  )
  for (const [table, scope, written] of TRIGGERS) {
    const changed = scope === 'org' ? 'custodian_credential_changed_in_org' : 'custodian_credential_changed_for_user'
    const unchanged = written.map((column) => ` - '${column}'`).join('')
    await runScript(
      db,
      `
      CREATE TRIGGER credential_epoch_update AFTER UPDATE ON ${table} FOR EACH ROW
        WHEN ((to_jsonb(OLD)${unchanged}) IS DISTINCT FROM (to_jsonb(NEW)${unchanged}))
        EXECUTE FUNCTION ${changed}();
      CREATE TRIGGER credential_epoch_delete AFTER DELETE ON ${table} FOR EACH ROW
        EXECUTE FUNCTION ${changed}();
      ${
        NEW_ROW_CHANGES.has(table)
          ? `CREATE TRIGGER credential_epoch_insert AFTER INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION ${changed}();`
          : ''
      }
      `,
    )
  }
}

/**
 * What a principal is made of (src/modules/identity/identity.store.ts, findTokenForAuth and
 * findSessionForAuth; custom roles by access.service.ts's permissionsOf): each table, whose
 * rows name the org or a person, and the columns written by use alone.
 */
const TRIGGERS: [table: string, scope: 'org' | 'user', written: string[]][] = [
  ['api_tokens', 'org', ['last_used_at']],
  ['sessions', 'org', ['last_seen_at']],
  ['memberships', 'org', []],
  ['service_accounts', 'org', []],
  ['custom_roles', 'org', []],
  ['org_security_policies', 'org', []],
  ['user_mfa', 'user', ['last_used_counter']],
  ['user_passkeys', 'user', ['sign_count', 'last_used_at']],
]

/**
 * Tables where a new row changes a principal already checked: a policy or a role appearing
 * for an org, a second factor enrolled. A new token, session, membership or service account
 * is nobody's cached credential yet.
 */
const NEW_ROW_CHANGES = new Set(['custom_roles', 'org_security_policies', 'user_mfa', 'user_passkeys'])

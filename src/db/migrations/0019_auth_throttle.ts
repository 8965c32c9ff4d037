import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Brute-force protection without lockout (issue 11 K2, docs/authentication.md).
 *
 * - `auth_throttle`: failure counters, one row per key — (account, client address), the
 *   address alone, the account alone. A key is an HMAC of what it names, so neither
 *   emails nor addresses are kept in clear. Counters are changed in SQL only, under a row
 *   lock, so N processes share them.
 * - `users.failed_logins` and `users.locked_until` go: accounts are no longer locked.
 *   Only the authentication path (owner connection) touches the table.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE auth_throttle (
      key text PRIMARY KEY,
      failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
      last_failure_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX auth_throttle_last_failure ON auth_throttle (last_failure_at);
    ALTER TABLE auth_throttle ENABLE ROW LEVEL SECURITY;
    ALTER TABLE users DROP COLUMN failed_logins;
    ALTER TABLE users DROP COLUMN locked_until;
  `,
  )
}

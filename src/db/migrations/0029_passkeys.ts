import type { Kysely } from 'kysely'
import { runScript } from '../sql-script.ts'

/**
 * Passkeys (WebAuthn, issue 12): a person's registered authenticators, their random user
 * handle, and the challenges handed out for a ceremony.
 *
 * - `user_passkeys`: one row per credential — its id (unique across all users), COSE
 *   public key, signature counter (clone detection), transports and backup state. Public
 *   material only: nothing here lets anyone sign.
 * - `user_webauthn_handles`: the user handle authenticators keep, 32 random bytes per
 *   person (never the email or the user id), created with the first registration.
 * - `webauthn_challenges`: SHA-256 of each challenge, its ceremony, the person it is bound
 *   to (none for a passwordless sign-in), expiry; consumed once.
 *
 * Like `user_mfa`, these belong to people, not orgs: row-level security is on and the
 * request role has no grant, so only the authentication path (owner connection) reads
 * or writes them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await runScript(
    db,
    `
    CREATE TABLE user_webauthn_handles (
      user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      user_handle bytea NOT NULL UNIQUE CHECK (octet_length(user_handle) = 32)
    );
    CREATE TABLE user_passkeys (
      id uuid PRIMARY KEY,
      user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      credential_id bytea NOT NULL UNIQUE CHECK (octet_length(credential_id) BETWEEN 16 AND 1023),
      public_key bytea NOT NULL,
      sign_count bigint NOT NULL DEFAULT 0 CHECK (sign_count >= 0),
      transports text[] NOT NULL DEFAULT '{}',
      device_type text NOT NULL CHECK (device_type IN ('singleDevice', 'multiDevice')),
      backed_up boolean NOT NULL,
      name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz
    );
    CREATE INDEX user_passkeys_user ON user_passkeys (user_id, created_at);
    CREATE TABLE webauthn_challenges (
      challenge_hash bytea PRIMARY KEY,
      ceremony text NOT NULL CHECK (ceremony IN ('registration', 'authentication')),
      user_id uuid REFERENCES users (id) ON DELETE CASCADE,
      expires_at timestamptz NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX webauthn_challenges_expiry ON webauthn_challenges (expires_at);
    ALTER TABLE user_webauthn_handles ENABLE ROW LEVEL SECURITY;
    ALTER TABLE user_passkeys ENABLE ROW LEVEL SECURITY;
    ALTER TABLE webauthn_challenges ENABLE ROW LEVEL SECURITY;
    `,
  )
}

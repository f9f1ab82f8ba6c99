-- Reverts 0001_accounts_and_sessions: sessions (refresh tokens keep their family ids) and pending email changes.
DELETE FROM "one_time_tokens" WHERE "purpose" = 'change_email';
ALTER TABLE "refresh_tokens" DROP CONSTRAINT IF EXISTS "refresh_tokens_family_id_sessions_id_fk";
ALTER TABLE "refresh_tokens" DROP COLUMN IF EXISTS "replaced_by";
DROP TABLE IF EXISTS "sessions";
ALTER TABLE "users" DROP COLUMN IF EXISTS "pending_email";

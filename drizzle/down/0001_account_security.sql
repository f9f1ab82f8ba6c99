-- Reverts 0001_account_security: pending email changes and session proof times are dropped.
DELETE FROM "one_time_tokens" WHERE "purpose" = 'change_email';
ALTER TABLE "users" DROP COLUMN IF EXISTS "pending_email";
ALTER TABLE "refresh_tokens" DROP COLUMN IF EXISTS "auth_time";

-- Reverts 0004_refresh_token_revoked_reason: refresh tokens forget why they were revoked.
ALTER TABLE "refresh_tokens" DROP COLUMN IF EXISTS "revoked_reason";

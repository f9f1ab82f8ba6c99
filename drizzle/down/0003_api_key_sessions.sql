-- Reverts 0003_api_key_sessions: API keys forget the session that created them.
ALTER TABLE "api_keys" DROP CONSTRAINT IF EXISTS "api_keys_session_id_sessions_id_fk";--> statement-breakpoint
ALTER TABLE "api_keys" DROP COLUMN IF EXISTS "session_id";

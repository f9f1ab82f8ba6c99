-- Reverts 0002_passkeys_and_identities: passkeys and linked sign-in identities are dropped with their tables.
DROP TABLE IF EXISTS "user_identities";--> statement-breakpoint
DROP TABLE IF EXISTS "passkeys";--> statement-breakpoint
ALTER TABLE "users" DROP COLUMN IF EXISTS "has_password";

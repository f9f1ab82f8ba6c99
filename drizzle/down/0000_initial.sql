-- Reverts 0000_initial: drops every table and type it created.
DROP TABLE IF EXISTS "recovery_codes";
DROP TABLE IF EXISTS "two_fa_challenges";
DROP TABLE IF EXISTS "one_time_tokens";
DROP TABLE IF EXISTS "audit_logs";
DROP TABLE IF EXISTS "api_keys";
DROP TABLE IF EXISTS "refresh_tokens";
DROP TABLE IF EXISTS "users";
DROP TYPE IF EXISTS "public"."user_role";

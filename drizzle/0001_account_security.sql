ALTER TABLE "refresh_tokens" ADD COLUMN "auth_time" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "pending_email" varchar(255);--> statement-breakpoint
-- Sessions from before this migration have no recorded proof: their creation is the latest one known.
UPDATE "refresh_tokens" SET "auth_time" = "created_at";

CREATE TABLE "sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"user_id" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp with time zone NOT NULL,
	"auth_time" timestamp with time zone NOT NULL,
	"auth_methods" text[] NOT NULL,
	"ip" varchar(64),
	"user_agent" varchar(255),
	"device" varchar(100),
	"ended_at" timestamp with time zone,
	"end_reason" varchar(32)
);
--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD COLUMN "replaced_by" uuid;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "pending_email" varchar(255);--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "sessions_user_idx" ON "sessions" USING btree ("user_id","ended_at");--> statement-breakpoint
-- Every refresh-token family from before this migration becomes a session, so signed-in users stay
-- signed in. The newest token gives the last use; the first one the sign-in time, which is also the
-- latest proof known. A family whose tokens are all revoked is an ended session.
INSERT INTO "sessions" ("id", "user_id", "created_at", "last_used_at", "expires_at", "auth_time", "auth_methods", "ip", "user_agent", "ended_at", "end_reason")
SELECT "family_id", min("user_id"), min("created_at"), max("created_at"), min("created_at") + interval '30 days', min("created_at"), '{password}',
  (array_agg("ip" ORDER BY "created_at" DESC))[1], (array_agg("user_agent" ORDER BY "created_at" DESC))[1],
  CASE WHEN bool_and("revoked_at" IS NOT NULL) THEN max("revoked_at") END,
  CASE WHEN bool_and("revoked_at" IS NOT NULL) THEN 'revoked' END
FROM "refresh_tokens" GROUP BY "family_id";--> statement-breakpoint
ALTER TABLE "refresh_tokens" ADD CONSTRAINT "refresh_tokens_family_id_sessions_id_fk" FOREIGN KEY ("family_id") REFERENCES "public"."sessions"("id") ON DELETE cascade ON UPDATE no action;
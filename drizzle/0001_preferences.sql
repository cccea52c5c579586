CREATE TYPE "public"."frequency" AS ENUM('immediately', 'daily', 'weekly', 'off');--> statement-breakpoint
CREATE TYPE "public"."suppression_reason" AS ENUM('hard_bounce', 'complaint', 'manual');--> statement-breakpoint
CREATE TABLE "course_mutes" (
	"recipient_id" uuid NOT NULL,
	"course_id" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "course_mutes_recipient_id_course_id_pk" PRIMARY KEY("recipient_id","course_id")
);
--> statement-breakpoint
CREATE TABLE "preferences" (
	"recipient_id" uuid NOT NULL,
	"category" text NOT NULL,
	"frequency" "frequency" NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "preferences_recipient_id_category_pk" PRIMARY KEY("recipient_id","category")
);
--> statement-breakpoint
CREATE TABLE "suppressions" (
	"email" text PRIMARY KEY NOT NULL,
	"reason" "suppression_reason" NOT NULL,
	"detail" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "course_id" text;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "digest_id" uuid;--> statement-breakpoint
ALTER TABLE "recipients" ADD COLUMN "unsubscribed_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "course_mutes" ADD CONSTRAINT "course_mutes_recipient_id_recipients_id_fk" FOREIGN KEY ("recipient_id") REFERENCES "public"."recipients"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "preferences" ADD CONSTRAINT "preferences_recipient_id_recipients_id_fk" FOREIGN KEY ("recipient_id") REFERENCES "public"."recipients"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "suppressions_created_at_index" ON "suppressions" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "messages_digest_wait_idx" ON "messages" USING btree ("run_at") WHERE "messages"."state" = 'digested' and "messages"."digest_id" is null;--> statement-breakpoint
CREATE INDEX "messages_budget_idx" ON "messages" USING btree ("recipient_id","course_id","sent_at");
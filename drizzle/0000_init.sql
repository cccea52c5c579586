CREATE TYPE "public"."message_state" AS ENUM('scheduled', 'queued', 'sending', 'sent', 'retrying', 'dead', 'cancelled', 'skipped', 'digested');--> statement-breakpoint
CREATE TABLE "events" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"webhook_id" text NOT NULL,
	"type" text NOT NULL,
	"body_sha256" text NOT NULL,
	"data" jsonb NOT NULL,
	"occurred_at" timestamp with time zone,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"message_count" integer NOT NULL,
	CONSTRAINT "events_webhookId_unique" UNIQUE("webhook_id")
);
--> statement-breakpoint
CREATE TABLE "delivery_attempts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"message_id" uuid NOT NULL,
	"attempt" integer NOT NULL,
	"transport" text NOT NULL,
	"outcome" text NOT NULL,
	"code" text,
	"response" text,
	"started_at" timestamp with time zone NOT NULL,
	"finished_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "messages" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"event_id" uuid,
	"recipient_id" uuid,
	"notification" text NOT NULL,
	"category" text NOT NULL,
	"to_address" text NOT NULL,
	"to_name" text,
	"locale" text NOT NULL,
	"variables" jsonb NOT NULL,
	"subject_ref" text,
	"fold_key" text,
	"state" "message_state" DEFAULT 'queued' NOT NULL,
	"run_at" timestamp with time zone DEFAULT now() NOT NULL,
	"lease_until" timestamp with time zone,
	"lease_owner" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"message_id_header" text NOT NULL,
	"subject" text,
	"last_error" text,
	"reason" text,
	"sent_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "recipients" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"lms_user_id" text NOT NULL,
	"email" text NOT NULL,
	"name" text,
	"locale" text,
	"timezone" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "recipients_lmsUserId_unique" UNIQUE("lms_user_id")
);
--> statement-breakpoint
CREATE TABLE "settings" (
	"key" text PRIMARY KEY NOT NULL,
	"value" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "delivery_attempts" ADD CONSTRAINT "delivery_attempts_message_id_messages_id_fk" FOREIGN KEY ("message_id") REFERENCES "public"."messages"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_event_id_events_id_fk" FOREIGN KEY ("event_id") REFERENCES "public"."events"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_recipient_id_recipients_id_fk" FOREIGN KEY ("recipient_id") REFERENCES "public"."recipients"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "delivery_attempts_message_id_index" ON "delivery_attempts" USING btree ("message_id");--> statement-breakpoint
CREATE INDEX "messages_due_idx" ON "messages" USING btree ("run_at") WHERE "messages"."state" in ('scheduled', 'queued', 'retrying');--> statement-breakpoint
CREATE INDEX "messages_lease_idx" ON "messages" USING btree ("lease_until") WHERE "messages"."state" = 'sending';--> statement-breakpoint
CREATE INDEX "messages_recipient_id_index" ON "messages" USING btree ("recipient_id");--> statement-breakpoint
CREATE INDEX "messages_subject_ref_index" ON "messages" USING btree ("subject_ref");--> statement-breakpoint
CREATE INDEX "messages_fold_key_index" ON "messages" USING btree ("fold_key");--> statement-breakpoint
CREATE INDEX "messages_state_created_at_index" ON "messages" USING btree ("state","created_at");--> statement-breakpoint
CREATE INDEX "recipients_email_index" ON "recipients" USING btree ("email");
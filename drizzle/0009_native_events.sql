CREATE TABLE "adapter_settings" (
	"adapter" text PRIMARY KEY NOT NULL,
	"enabled" boolean DEFAULT false NOT NULL,
	"base_url" text,
	"api_token" text,
	"inbound_token" text,
	"jwks_url" text,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "native_events" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"adapter" text NOT NULL,
	"delivery_id" text NOT NULL,
	"event_name" text NOT NULL,
	"object_id" text,
	"event_time" timestamp with time zone,
	"payload" jsonb NOT NULL,
	"state" text DEFAULT 'received' NOT NULL,
	"reason" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone,
	"mapped" jsonb,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "native_events_delivery_idx" ON "native_events" USING btree ("adapter","delivery_id");--> statement-breakpoint
CREATE INDEX "native_events_due_idx" ON "native_events" USING btree ("next_attempt_at") WHERE state in ('received', 'enriching');--> statement-breakpoint
CREATE INDEX "native_events_received_idx" ON "native_events" USING btree ("received_at");
CREATE TABLE "reminder_exclusions" (
	"subject_ref" text NOT NULL,
	"recipient_id" uuid NOT NULL,
	"reason" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "reminder_exclusions_subject_ref_recipient_id_pk" PRIMARY KEY("subject_ref","recipient_id")
);
--> statement-breakpoint
CREATE TABLE "reminder_subjects" (
	"subject_ref" text PRIMARY KEY NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"cancelled_at" timestamp with time zone,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "reminder_exclusions" ADD CONSTRAINT "reminder_exclusions_recipient_id_recipients_id_fk" FOREIGN KEY ("recipient_id") REFERENCES "public"."recipients"("id") ON DELETE cascade ON UPDATE no action;
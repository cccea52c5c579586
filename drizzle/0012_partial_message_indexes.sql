DROP INDEX "messages_recipient_id_index";--> statement-breakpoint
DROP INDEX "messages_subject_ref_index";--> statement-breakpoint
DROP INDEX "messages_fold_key_index";--> statement-breakpoint
DROP INDEX "messages_provider_message_id_index";--> statement-breakpoint
CREATE INDEX "messages_subject_ref_index" ON "messages" USING btree ("subject_ref") WHERE "messages"."subject_ref" is not null;--> statement-breakpoint
CREATE INDEX "messages_fold_key_index" ON "messages" USING btree ("fold_key") WHERE "messages"."fold_key" is not null;--> statement-breakpoint
CREATE INDEX "messages_provider_message_id_index" ON "messages" USING btree ("provider_message_id") WHERE "messages"."provider_message_id" is not null;
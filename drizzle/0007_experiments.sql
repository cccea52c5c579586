ALTER TABLE "messages" ADD COLUMN "experiment" text;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "variant" text;--> statement-breakpoint
CREATE INDEX "messages_experiment_idx" ON "messages" USING btree ("experiment","variant") WHERE "messages"."experiment" is not null;
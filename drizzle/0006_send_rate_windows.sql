CREATE TABLE "send_rate_windows" (
	"transport" text NOT NULL,
	"window_start" bigint NOT NULL,
	"granted" integer NOT NULL,
	CONSTRAINT "send_rate_windows_transport_window_start_pk" PRIMARY KEY("transport","window_start")
);

CREATE TABLE `render_units` (
	`id` text PRIMARY KEY NOT NULL,
	`composition_id` text NOT NULL,
	`run_token` text NOT NULL,
	`kind` text NOT NULL,
	`idx` integer NOT NULL,
	`start_ms` integer NOT NULL,
	`end_ms` integer NOT NULL,
	`priority` integer NOT NULL,
	`queued_at` integer NOT NULL,
	`state` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`lease_token` text,
	`lease_expires_at` integer,
	`renderer_instance` text,
	`progress` integer DEFAULT 0 NOT NULL,
	`eta_seconds` integer,
	`started_at` integer,
	`report` text,
	`error` text,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `render_units_queue` ON `render_units` (`state`,`priority`,`queued_at`);--> statement-breakpoint
CREATE INDEX `render_units_run` ON `render_units` (`composition_id`,`run_token`);
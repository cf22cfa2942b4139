CREATE TABLE `source_redactions` (
	`id` text PRIMARY KEY NOT NULL,
	`organization_id` text NOT NULL,
	`conversation_id` text NOT NULL,
	`spans` text NOT NULL,
	`reason` text NOT NULL,
	`requested_by` text NOT NULL,
	`requested_role` text NOT NULL,
	`state` text NOT NULL,
	`track_ids` text NOT NULL,
	`done` text DEFAULT '[]' NOT NULL,
	`progress` integer DEFAULT 0 NOT NULL,
	`error` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`lease_token` text,
	`lease_expires_at` integer,
	`renderer_instance` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`completed_at` integer
);
--> statement-breakpoint
CREATE INDEX `source_redactions_conversation` ON `source_redactions` (`organization_id`,`conversation_id`,`state`);--> statement-breakpoint
CREATE INDEX `source_redactions_state` ON `source_redactions` (`state`,`created_at`);
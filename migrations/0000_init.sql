CREATE TABLE `compositions` (
	`id` text PRIMARY KEY NOT NULL,
	`organization_id` text NOT NULL,
	`conversation_id` text NOT NULL,
	`user_id` text NOT NULL,
	`name` text NOT NULL,
	`type` text NOT NULL,
	`format` text NOT NULL,
	`layout` text NOT NULL,
	`resolution` text NOT NULL,
	`priority` integer NOT NULL,
	`state` text NOT NULL,
	`progress` integer DEFAULT 0 NOT NULL,
	`eta_seconds` integer,
	`error` text,
	`warnings` text,
	`attempts` integer DEFAULT 0 NOT NULL,
	`lease_token` text,
	`lease_expires_at` integer,
	`renderer_instance` text,
	`output_key` text,
	`output_size` integer,
	`duration_ms` integer,
	`created_at` integer NOT NULL,
	`queued_at` integer NOT NULL,
	`started_at` integer,
	`completed_at` integer,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `compositions_dispatch` ON `compositions` (`state`,`priority`,`queued_at`);--> statement-breakpoint
CREATE INDEX `compositions_conversation` ON `compositions` (`organization_id`,`conversation_id`);--> statement-breakpoint
CREATE INDEX `compositions_user` ON `compositions` (`organization_id`,`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `compositions_lease` ON `compositions` (`state`,`lease_expires_at`);--> statement-breakpoint
CREATE TABLE `recordings` (
	`organization_id` text NOT NULL,
	`conversation_id` text NOT NULL,
	`agent_id` text,
	`started` integer NOT NULL,
	`stopped` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	PRIMARY KEY(`organization_id`, `conversation_id`)
);
--> statement-breakpoint
CREATE TABLE `tracks` (
	`organization_id` text NOT NULL,
	`conversation_id` text NOT NULL,
	`id` text NOT NULL,
	`participant_id` text NOT NULL,
	`started` integer NOT NULL,
	`stopped` integer,
	`audio` integer NOT NULL,
	`video` integer NOT NULL,
	`media_key` text,
	`media_size` integer,
	`content_type` text,
	`stored_at` integer,
	PRIMARY KEY(`organization_id`, `conversation_id`, `id`)
);

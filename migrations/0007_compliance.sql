CREATE TABLE `audit_entries` (
	`id` text PRIMARY KEY NOT NULL,
	`organization_id` text NOT NULL,
	`at` integer NOT NULL,
	`actor_sub` text NOT NULL,
	`actor_role` text NOT NULL,
	`action` text NOT NULL,
	`conversation_id` text,
	`composition_id` text,
	`details` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_entries_org_at` ON `audit_entries` (`organization_id`,`at`);--> statement-breakpoint
CREATE TABLE `legal_holds` (
	`organization_id` text NOT NULL,
	`conversation_id` text NOT NULL,
	`reason` text NOT NULL,
	`placed_by` text NOT NULL,
	`placed_at` integer NOT NULL,
	PRIMARY KEY(`organization_id`, `conversation_id`)
);
--> statement-breakpoint
CREATE TABLE `retention_policies` (
	`organization_id` text PRIMARY KEY NOT NULL,
	`compositions` text,
	`compositions_ms` integer,
	`recordings` text,
	`recordings_ms` integer,
	`updated_at` integer NOT NULL,
	`updated_by` text NOT NULL
);

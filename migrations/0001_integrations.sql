CREATE TABLE `hook_rules` (
	`id` text PRIMARY KEY NOT NULL,
	`organization_id` text NOT NULL,
	`type` text NOT NULL,
	`resolution` text NOT NULL,
	`priority` integer NOT NULL,
	`name_template` text NOT NULL,
	`callback_url` text,
	`agent_ids` text,
	`enabled` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `hook_rules_org` ON `hook_rules` (`organization_id`);--> statement-breakpoint
CREATE TABLE `hook_runs` (
	`rule_id` text NOT NULL,
	`organization_id` text NOT NULL,
	`conversation_id` text NOT NULL,
	`composition_id` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`rule_id`, `organization_id`, `conversation_id`)
);
--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`event_id` text NOT NULL,
	`organization_id` text NOT NULL,
	`composition_id` text NOT NULL,
	`conversation_id` text NOT NULL,
	`endpoint_id` text,
	`target_url` text NOT NULL,
	`type` text NOT NULL,
	`payload` text NOT NULL,
	`seq` integer NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`last_status` integer,
	`last_error` text,
	`created_at` integer NOT NULL,
	`delivered_at` integer
);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_composition` ON `webhook_deliveries` (`composition_id`,`target_url`,`seq`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_event` ON `webhook_deliveries` (`event_id`);--> statement-breakpoint
CREATE TABLE `webhook_endpoints` (
	`id` text PRIMARY KEY NOT NULL,
	`organization_id` text NOT NULL,
	`url` text NOT NULL,
	`secret` text NOT NULL,
	`events` text,
	`enabled` integer NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `webhook_endpoints_org` ON `webhook_endpoints` (`organization_id`);--> statement-breakpoint
ALTER TABLE `compositions` ADD `callback_url` text;--> statement-breakpoint
ALTER TABLE `compositions` ADD `options` text;--> statement-breakpoint
ALTER TABLE `compositions` ADD `progress_event_at` integer;--> statement-breakpoint
ALTER TABLE `compositions` ADD `progress_event_value` integer;
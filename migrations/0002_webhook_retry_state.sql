ALTER TABLE `webhook_deliveries` ADD `next_attempt_at` integer;--> statement-breakpoint
CREATE INDEX `webhook_deliveries_due` ON `webhook_deliveries` (`status`,`next_attempt_at`);
CREATE INDEX `track_uploads_created` ON `track_uploads` (`created_at`);--> statement-breakpoint
CREATE INDEX `webhook_deliveries_created` ON `webhook_deliveries` (`created_at`);
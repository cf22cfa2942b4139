ALTER TABLE `tracks` ADD `role` text;--> statement-breakpoint
ALTER TABLE `tracks` ADD `display_name` text;
CREATE TABLE `link_revocations` (
	`composition_id` text PRIMARY KEY NOT NULL,
	`organization_id` text NOT NULL,
	`revoked_at` integer NOT NULL
);

"""Notes, tasks, logged activities and attachments: the timeline of a record."""

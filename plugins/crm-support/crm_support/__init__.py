"""crm-support: tickets, queues, SLAs, mail in and out, customer portal and feedback."""

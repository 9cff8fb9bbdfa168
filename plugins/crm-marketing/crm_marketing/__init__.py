"""crm-marketing: segments, campaigns, templates, sending, tracking, consent and attribution."""

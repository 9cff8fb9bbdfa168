"""Outbound webhooks: the ``webhook`` entity, its outbox, signed delivery and the SSRF guard."""

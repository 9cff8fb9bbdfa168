"""crm-kb: knowledge-base articles, categories, revisions and a public help centre."""

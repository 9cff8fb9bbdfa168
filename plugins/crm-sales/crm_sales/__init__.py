"""Sales for crmcore: leads, pipelines and deals, products, quotes, orders, forecast."""

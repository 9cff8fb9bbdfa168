"""Customer analysis over sales orders (RFM, lifetime value, cohorts), kept apart from the
report builder. Each module reads orders through the entity registry, never by importing the
sales plugin, so the insights plugin works with sales disabled."""

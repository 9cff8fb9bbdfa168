"""Customer loyalty points: a crmcore plugin written as a third party would (entry point
``loyalty``)."""

"""The fixtures come from crmcore's pytest plugin (``crmcore.testing``), active once crmcore is
installed. Add fixtures of your own here."""

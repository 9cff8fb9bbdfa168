"""The version of crmcore, checked against each plugin's ``core`` range."""

__version__ = "1.0.0"

"""The report builder: definitions, the scoped query they become, saved reports and their API.

``definition`` checks what a user asks for, ``query`` turns it into one SQLAlchemy statement
inside the user's permission scope, ``runner`` executes it and shapes the rows.
"""

from .definition import Definition, parse_definition
from .runner import run_definition

__all__ = ["Definition", "parse_definition", "run_definition"]

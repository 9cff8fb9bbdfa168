"""schemathesis hooks for tests/test_fuzz.py (loaded through ``SCHEMATHESIS_HOOKS``).

The fuzzer may do anything its token allows, except cut its own run short: it never revokes
the token it sends, nor changes or trashes the user it runs as or the role that user holds.
The ids come from the environment the test sets.
"""

from __future__ import annotations

import os
import re
from typing import Any

import schemathesis

_GUARDED = (
    # (method, path pattern, path parameter, environment variable holding the protected ids)
    ("DELETE", re.compile(r"/auth/tokens/\{token_id\}$"), "token_id", "CRM_FUZZ_TOKEN_IDS"),
    ("PATCH", re.compile(r"/users/\{record_id\}$"), "record_id", "CRM_FUZZ_USER_IDS"),
    ("DELETE", re.compile(r"/users/\{record_id\}$"), "record_id", "CRM_FUZZ_USER_IDS"),
    ("PATCH", re.compile(r"/roles/\{record_id\}$"), "record_id", "CRM_FUZZ_ROLE_IDS"),
    ("DELETE", re.compile(r"/roles/\{record_id\}$"), "record_id", "CRM_FUZZ_ROLE_IDS"),
)


def _ids(variable: str) -> set[str]:
    return {part for part in os.environ.get(variable, "").split(",") if part}


def _same_id(value: Any, protected: set[str]) -> bool:
    text = str(value).strip()
    try:
        return str(int(text)) in protected
    except ValueError:
        return text in protected


@schemathesis.hook
def filter_case(context: Any, case: Any) -> bool:
    """Drop the cases that would revoke the run's token or demote its user."""
    method = case.operation.method.upper()
    for guarded_method, pattern, name, variable in _GUARDED:
        if method == guarded_method and pattern.search(case.operation.path):
            value = (case.path_parameters or {}).get(name)
            if value is not None and _same_id(value, _ids(variable)):
                return False
    return True

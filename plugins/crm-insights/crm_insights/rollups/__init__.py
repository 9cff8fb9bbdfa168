"""Rollups: pre-aggregated figures of an entity (count and sums per group value, currency and
owner), kept current by the record service's writes in their own transaction, so that a
report they answer reads a few thousand rows instead of every record.

``store`` writes rows (each write's change, a build, the check), ``query`` answers a report
from them when it can, ``manage`` decides which rollups exist, ``shape`` what one holds.
"""

from .manage import check, ensure, for_reports, rebuild
from .models import Rollup, RollupRow
from .query import rollup_builder
from .store import records_written

__all__ = [
    "Rollup",
    "RollupRow",
    "check",
    "ensure",
    "for_reports",
    "rebuild",
    "records_written",
    "rollup_builder",
]

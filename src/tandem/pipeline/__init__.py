"""The pipeline: capture -> plan -> deliver -> commit, and reconciliation.

Public API: :class:`Engine` (one flow's passes and continuous run), :func:`running_engine`
(assembled from a flow spec), :func:`reconcile`, :func:`apply_resolution`, the events
(:class:`EventBus` and the event types a rules layer subscribes to) and :class:`PassReport`.
"""

from tandem.pipeline.engine import Engine
from tandem.pipeline.events import (
    BatchDone,
    ConflictRaised,
    Event,
    EventBus,
    PassDone,
    RecordDeadLettered,
    RecordSynced,
)
from tandem.pipeline.reconcile import ReconcileReport, reconcile
from tandem.pipeline.report import PassReport
from tandem.pipeline.resolve import apply_resolution
from tandem.pipeline.runtime import running_engine

__all__ = [
    "BatchDone",
    "ConflictRaised",
    "Engine",
    "Event",
    "EventBus",
    "PassDone",
    "PassReport",
    "ReconcileReport",
    "RecordDeadLettered",
    "RecordSynced",
    "apply_resolution",
    "reconcile",
    "running_engine",
]

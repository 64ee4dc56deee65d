"""The flow spec: a YAML file, validated by pydantic, that says what to sync and how.

Public API: :func:`load_flow` (errors name file, line and field), :func:`flow_json_schema`,
the spec models (:class:`FlowSpec`, :class:`EntitySpec`, :class:`FieldSpec`, ...) and
:data:`Side`.
"""

from tandem.config.entity import NAME_LIKE, EntitySpec, SideSpec
from tandem.config.fields import FieldSpec
from tandem.config.flow import ConnectionSpec, FlowSpec
from tandem.config.loader import load_flow, parse_flow
from tandem.config.parts import (
    SIDES,
    ConflictPolicy,
    ContinuousSchedule,
    Defaults,
    DeletePolicy,
    DeleteSpec,
    Direction,
    IntervalSchedule,
    Owner,
    Schedule,
    Side,
    ValueMapSpec,
    other,
)
from tandem.config.schema import flow_json_schema
from tandem.config.secrets import EnvRef, FileRef, SecretRef

__all__ = [
    "NAME_LIKE",
    "SIDES",
    "ConflictPolicy",
    "ConnectionSpec",
    "ContinuousSchedule",
    "Defaults",
    "DeletePolicy",
    "DeleteSpec",
    "Direction",
    "EntitySpec",
    "EnvRef",
    "FieldSpec",
    "FileRef",
    "FlowSpec",
    "IntervalSchedule",
    "Owner",
    "Schedule",
    "SecretRef",
    "Side",
    "SideSpec",
    "ValueMapSpec",
    "flow_json_schema",
    "load_flow",
    "other",
    "parse_flow",
]

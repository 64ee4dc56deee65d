"""Mapping: native records <-> canonical records. Pure functions, no I/O.

* :class:`Mapper` reads native records into validated canonical dicts and writes canonical
  fields back as native values (field maps, value maps, references, defaults, expressions);
  a record read with its delete-policy flag field carries the flag (:class:`ValuesWithFlag`).
* :class:`Expression`: the small safe expression language of ``erp_expr`` / ``crm_expr``.
* :func:`values_equal`: robust equality for no-op detection.
* :func:`check_binding` (:func:`binding_problems`: located) / :func:`validate_native`
  (:class:`NativeValidator` for many records): checks against a connector's ``describe``.
"""

from tandem.mapping.compare import values_equal
from tandem.mapping.expressions import FUNCTIONS, Expression, ExpressionError
from tandem.mapping.mapper import Mapper, RefResolver, Side, ValuesWithFlag
from tandem.mapping.schema import (
    BindingProblem,
    NativeValidator,
    binding_problems,
    check_binding,
    validate_native,
)

__all__ = [
    "FUNCTIONS",
    "BindingProblem",
    "Expression",
    "ExpressionError",
    "Mapper",
    "NativeValidator",
    "RefResolver",
    "Side",
    "ValuesWithFlag",
    "binding_problems",
    "check_binding",
    "validate_native",
    "values_equal",
]

"""Mapping: native records <-> canonical records. Pure functions, no I/O.

* :class:`Mapper` reads native records into validated canonical dicts and writes canonical
  fields back as native values (field maps, value maps, references, defaults, expressions);
  a record read with its delete-policy flag field carries the flag (:class:`ValuesWithFlag`).
* :class:`Expression`: the small safe expression language of ``erp_expr`` / ``crm_expr``.
* :func:`values_equal`: robust equality for no-op detection.
* :func:`check_binding` (:func:`binding_problems`: located) / :func:`validate_native`
  (:class:`NativeValidator` for many records): checks against a connector's ``describe``;
  :func:`scale_warnings`: numeric fields whose decimal places differ between the systems.
* :func:`fit_scale`: a number as a field of a given scale holds it (rounded half up).
"""

from tandem.mapping.compare import values_equal
from tandem.mapping.expressions import FUNCTIONS, Expression, ExpressionError
from tandem.mapping.mapper import Mapper, RefResolver, Side, ValuesWithFlag
from tandem.mapping.scale import fit_scale
from tandem.mapping.schema import (
    BindingProblem,
    NativeValidator,
    binding_problems,
    check_binding,
    scale_warnings,
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
    "fit_scale",
    "scale_warnings",
    "validate_native",
    "values_equal",
]

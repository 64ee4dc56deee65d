"""Property: to_native(to_canonical(x)) == x for plain fields and bijective value maps."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tandem.config import parse_flow
from tandem.mapping import Mapper, values_equal

from .conftest import MemoryRefs

FLOW = """\
version: 1
name: roundtrip
connections: {erp: {type: sql}, crm: {type: salesforce}}
value_maps:
  countries: {pairs: {PL: Poland, DE: Germany, FR: France, "NO": Norway}}
  kinds: {pairs: {product: Goods, service: Services}}
entities:
  product:
    model: product
    erp: {source: products, key: id, external_id: crm_id}
    crm: {source: Product2, key: Id, external_id: ERP_Id__c}
    match: [code]
    fields:
      - {field: code, erp: sku, crm: ProductCode}
      - {field: name, erp: name, crm: Name}
      - {field: kind, erp: kind, crm: Family, value_map: kinds}
      - {field: active, erp: active, crm: IsActive}
      - {field: x_weight, erp: weight, crm: Weight__c}
  customer:
    model: customer
    erp: {source: customers, key: id, external_id: crm_id}
    crm: {source: Account, key: Id, external_id: ERP_Id__c}
    match: [email]
    fields:
      - {field: name, erp: name, crm: Name}
      - {field: email, erp: email, crm: Email__c}
      - {field: billing_address.country, erp: country, crm: BillingCountry, value_map: countries}
"""

SPEC = parse_flow(FLOW)
MAPPER = Mapper(SPEC)
REFS = MemoryRefs()

text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=80,
)
products = st.fixed_dictionaries(
    {
        "sku": text,
        "name": text,
        "kind": st.sampled_from(["product", "service"]),
        "active": st.booleans(),
        "weight": st.none() | st.integers() | st.decimals(allow_nan=False, allow_infinity=False),
    }
)
customers = st.fixed_dictionaries(
    {
        "name": text,
        "email": st.emails().filter(lambda e: ".." not in e and len(e) <= 254),
        "country": st.sampled_from(["PL", "DE", "FR", "NO"]),
    }
)


def _both_ways(entity: str, erp: dict[str, Any]) -> None:
    fields = [f.field for f in SPEC.entity(entity).fields]
    canonical = MAPPER.to_canonical(entity, "erp", erp, "k", REFS)
    assert MAPPER.to_native(entity, "erp", canonical, fields, "k", REFS) == erp
    crm = MAPPER.to_native(entity, "crm", canonical, fields, "k", REFS)
    again = MAPPER.to_canonical(entity, "crm", crm, "k", REFS)
    assert all(values_equal(again[k], canonical[k]) for k in canonical)
    assert MAPPER.to_native(entity, "crm", again, fields, "k", REFS) == crm


@settings(max_examples=150, deadline=None)
@given(products)
def test_product_round_trip(erp: dict[str, Any]) -> None:
    _both_ways("product", erp)


@settings(max_examples=150, deadline=None)
@given(customers)
def test_customer_round_trip_through_value_map(erp: dict[str, Any]) -> None:
    _both_ways("customer", erp)

"""Fixtures for the mapping tests: a flow and an in-memory reference resolver."""

from __future__ import annotations

import pytest

from tandem.config import FlowSpec, Side, parse_flow
from tandem.mapping import Mapper

FLOW = """\
version: 1
name: mapping-test
connections:
  erp: {type: sql}
  crm: {type: salesforce}
value_maps:
  countries: {pairs: {PL: Poland, DE: Germany}}
  kinds: {pairs: {product: Goods, service: Services}, default_crm: Goods}
  units: {pairs: {szt: Each}, passthrough: true}
  flags: {pairs: {"Y": true, "N": false}}
entities:
  customer:
    model: customer
    erp: {source: customers, key: id, external_id: crm_id}
    crm: {source: Account, key: Id, external_id: ERP_Id__c}
    match: [tax_id]
    fields:
      - {field: name, erp: name, crm: Name}
      - {field: tax_id, erp: nip, crm: Tax_Id__c, owner: erp}
      - {field: email, erp: email, crm: Email__c}
      - {field: billing_address.country, erp: country, crm: BillingCountry, value_map: countries}
      - {field: credit_hold, erp: hold, crm: Hold__c, value_map: flags}
      - {field: currency, erp: currency, crm: CurrencyIsoCode, default: EUR}
      - {field: x_label, erp_expr: "upper(name) + ' / ' + code", crm: Label__c}
      - {field: x_note, crm_expr: "coalesce(Note__c, 'n/a')", erp: note}
  product:
    model: product
    erp: {source: products, key: id, external_id: crm_id}
    crm: {source: Product2, key: Id, external_id: ERP_Id__c}
    match: [code]
    fields:
      - {field: code, erp: sku, crm: ProductCode}
      - {field: name, erp: name, crm: Name, required: true}
      - {field: kind, erp: kind, crm: Family, value_map: kinds}
      - {field: unit, erp: unit, crm: QuantityUnitOfMeasure, value_map: units}
  contact:
    model: contact
    erp: {source: contacts, key: id, external_id: crm_id}
    crm: {source: Contact, key: Id, external_id: ERP_Id__c}
    match: [email]
    fields:
      - {field: last_name, erp: last_name, crm: LastName}
      - {field: email, erp: email, crm: Email}
      - {field: customer, erp: customer_id, crm: AccountId, ref: customer}
  price:
    model: price_list_entry
    direction: erp_to_crm
    erp: {source: prices, key: id}
    crm: {source: PricebookEntry, key: Id, external_id: ERP_Id__c}
    fields:
      - {field: product, erp: product_id, crm: Product2Id, ref: product}
      - {field: price_list, erp: list_id, crm: Pricebook2Id, ref: product}
      - {field: unit_price.amount, erp: price, crm: UnitPrice}
      - {field: unit_price.currency, erp: currency, crm: CurrencyIsoCode}
"""


class MemoryRefs:
    """A RefResolver over a dict: (entity, side, native key) <-> canonical id."""

    def __init__(self) -> None:
        self.links: dict[tuple[str, Side, str], str] = {}

    def link(self, entity: str, canonical: str, erp: str | None, crm: str | None) -> None:
        if erp is not None:
            self.links[(entity, "erp", erp)] = canonical
        if crm is not None:
            self.links[(entity, "crm", crm)] = canonical

    def to_canonical(self, entity: str, side: Side, native_key: str) -> str | None:
        return self.links.get((entity, side, native_key))

    def to_native(self, entity: str, side: Side, canonical: str) -> str | None:
        for (e, s, key), value in self.links.items():
            if (e, s, value) == (entity, side, canonical):
                return key
        return None


@pytest.fixture
def flow() -> FlowSpec:
    return parse_flow(FLOW, file="mapping.yaml")


@pytest.fixture
def mapper(flow: FlowSpec) -> Mapper:
    return Mapper(flow)


@pytest.fixture
def refs() -> MemoryRefs:
    resolver = MemoryRefs()
    resolver.link("customer", "cust-1", erp="42", crm="001000000000042AAA")
    resolver.link("product", "prod-1", erp="7", crm="01t000000000007AAA")
    return resolver

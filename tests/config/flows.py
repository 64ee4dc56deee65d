"""A small valid flow used by the config and mapping tests (line numbers matter: keep layout)."""

from __future__ import annotations

BASE = """\
version: 1
name: test
connections:
  erp: {type: sql, url: "sqlite:///erp.db"}
  crm:
    type: salesforce
    instance_url: https://127.0.0.1:8443
    auth: {flow: password, username: u, password: {env: TEST_SF_PASSWORD}}
value_maps:
  countries: {pairs: {PL: Poland, DE: Germany, "NO": Norway}}
entities:
  customer:
    model: customer
    erp: {source: customers, key: id, external_id: crm_id}
    crm: {source: Account, key: Id, external_id: ERP_Id__c}
    match: [tax_id]
    fields:
      - {field: name, erp: name, crm: Name}
      - {field: tax_id, erp: nip, crm: Tax_Id__c, owner: erp}
      - {field: billing_address.country, erp: country, crm: BillingCountry, value_map: countries}
      - {field: x_label, erp_expr: "upper(name) + ' / ' + code", crm: Label__c}
  contact:
    model: contact
    direction: erp_to_crm
    erp: {source: contacts, key: id, external_id: crm_id}
    crm: {source: Contact, key: Id, external_id: ERP_Id__c}
    match: [email]
    fields:
      - {field: last_name, erp: last_name, crm: LastName}
      - {field: email, erp: email, crm: Email}
      - {field: customer, erp: customer_id, crm: AccountId, ref: customer}
"""

"""The demo's flow config and the custom CRM fields it relies on."""

from __future__ import annotations

from pathlib import Path

CRM_SCHEMA = """\
# Custom objects and fields the demo flow maps to, declared like any Salesforce customisation.
objects:
  Account:
    fields:
      Tax_Id__c: {type: string, length: 20, label: Tax ID}
      Credit_Hold__c: {type: boolean, default: false, label: Credit Hold}
  Product_Category__c:
    label: Product Category
    fields:
      Name: {type: string, length: 80, required: true, nameField: true, label: Category Name}
      Code__c: {type: string, length: 20, label: Code}
      ERP_Id__c: {type: string, length: 64, unique: true, externalId: true, label: ERP Id}
  Product2:
    fields:
      Category__c:
        type: reference
        referenceTo: [Product_Category__c]
        relationshipName: Category__r
        label: Category
      Kind__c: {type: picklist, restricted: true, values: [product, service], label: Kind}
  PricebookEntry:
    fields:
      ERP_Id__c: {type: string, length: 64, unique: true, externalId: true, label: ERP Id}
"""

FLOW = """\
# The demo flow: a sample SQL ERP (SQLite) <-> the local Salesforce sandbox.
version: 1
name: demo
state: sqlite:///{state}
connections:
  erp:
    type: sql
    url: {erp_url}
  crm:
    type: salesforce
    instance_url: {base_url}
    login_url: {base_url}
    ca_file: {ca_file}
    auth_flow: password
    username: {username}
    client_id: {client_id}
    password: {{file: secrets/sf_password}}
    client_secret: {{file: secrets/sf_client_secret}}
defaults:
  batch_size: 200
  schedule: {{mode: continuous, poll_seconds: 1.0}}
  overlap_seconds: 2
value_maps:
  countries:
    pairs: {{PL: Poland, DE: Germany, CZ: Czechia}}
entities:
  customer:
    model: customer
    direction: both
    owner: erp
    conflict: newest_wins
    match: [tax_id]
    delete: {{policy: archive, erp_field: active, value: false}}
    erp: {{source: customers, key: id, external_id: crm_id}}
    crm: {{source: Account, key: Id, external_id: ERP_Id__c}}
    fields:
      - {{field: name, erp: name, crm: Name}}
      - {{field: number, erp: number, crm: AccountNumber}}
      - {{field: tax_id, erp: nip, crm: Tax_Id__c}}
      - {{field: phone, erp: phone, crm: Phone, owner: both}}
      - {{field: billing_address.street, erp: street, crm: BillingStreet}}
      - {{field: billing_address.city, erp: city, crm: BillingCity}}
      - {{field: billing_address.postal_code, erp: postal_code, crm: BillingPostalCode}}
      - field: billing_address.country
        erp: country_code
        crm: BillingCountry
        value_map: countries
      - {{field: credit_hold, erp: credit_hold, crm: Credit_Hold__c}}
  contact:
    model: contact
    direction: both
    owner: crm
    match: [email]
    depends_on: [customer]
    delete: {{policy: delete}}
    erp: {{source: contacts, key: id, external_id: crm_id}}
    crm: {{source: Contact, key: Id, external_id: ERP_Id__c}}
    fields:
      - {{field: customer, erp: customer_id, crm: AccountId, ref: customer}}
      - {{field: first_name, erp: first_name, crm: FirstName}}
      - {{field: last_name, erp: last_name, crm: LastName}}
      - {{field: email, erp: email, crm: Email}}
      - {{field: phone, erp: phone, crm: Phone}}
      - {{field: title, erp: title, crm: Title}}
  product_category:
    model: product_category
    direction: both
    owner: erp
    erp: {{source: product_categories, key: id, external_id: crm_id}}
    crm: {{source: Product_Category__c, key: Id, external_id: ERP_Id__c}}
    fields:
      - {{field: code, erp: code, crm: Code__c}}
      - {{field: name, erp: name, crm: Name}}
  product:
    model: product
    direction: both
    owner: erp
    depends_on: [product_category]
    erp: {{source: products, key: id, external_id: crm_id}}
    crm: {{source: Product2, key: Id, external_id: ERP_Id__c}}
    fields:
      - {{field: code, erp: code, crm: ProductCode}}
      - {{field: name, erp: name, crm: Name}}
      - {{field: unit, erp: unit, crm: QuantityUnitOfMeasure}}
      - {{field: kind, erp: kind, crm: Kind__c}}
      - {{field: active, erp: active, crm: IsActive}}
      - {{field: category, erp: category_id, crm: Category__c, ref: product_category}}
  price_list:
    model: price_list
    direction: erp_to_crm
    match: [x_standard]
    erp: {{source: price_lists, key: id}}
    crm: {{source: Pricebook2, key: Id, external_id: ERP_Id__c}}
    fields:
      - {{field: name, erp: name, crm: Name}}
      - {{field: x_standard, erp: is_standard, crm_expr: "IsStandard"}}
  price_list_entry:
    model: price_list_entry
    direction: both
    owner: erp
    depends_on: [price_list, product]
    erp: {{source: price_list_entries, key: id, external_id: crm_id}}
    crm: {{source: PricebookEntry, key: Id, external_id: ERP_Id__c}}
    fields:
      - {{field: price_list, erp: price_list_id, crm: Pricebook2Id, ref: price_list}}
      - {{field: product, erp: product_id, crm: Product2Id, ref: product}}
      - {{field: unit_price.amount, erp: unit_price, crm: UnitPrice}}
      - {{field: unit_price.currency, erp: currency, default: PLN}}
      - {{field: active, erp: active, crm: IsActive}}
"""


def write_flow(
    folder: Path,
    *,
    erp_url: str,
    state_db: Path,
    base_url: str,
    ca_file: Path,
    username: str,
    client_id: str,
    password: str,
    client_secret: str,
) -> Path:
    """Write the demo flow and its secret files into ``folder``; return the config path."""
    secrets = folder / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    for name, value in (("sf_password", password), ("sf_client_secret", client_secret)):
        path = secrets / name
        path.write_text(value, encoding="utf-8")
        path.chmod(0o600)
    config = folder / "tandem.yaml"
    config.write_text(
        FLOW.format(
            state=state_db,
            erp_url=erp_url,
            base_url=base_url,
            ca_file=ca_file,
            username=username,
            client_id=client_id,
        ),
        encoding="utf-8",
    )
    return config


__all__ = ["CRM_SCHEMA", "FLOW", "write_flow"]

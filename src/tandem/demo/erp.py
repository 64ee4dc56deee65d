"""A sample SQL-database ERP for the demo: customers, contacts, catalogue, price list.

The data is generated from a seed, so two demos with the same seed hold the same records.
Tax IDs are valid Polish NIPs (checksummed), except one customer whose NIP is deliberately
wrong: the demo shows it landing in the dead-letter queue with a message naming it.
"""

from __future__ import annotations

import random
import unicodedata
from decimal import Decimal

import sqlalchemy as sa

METADATA = sa.MetaData()

CUSTOMERS = sa.Table(
    "customers",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.String(20), unique=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("nip", sa.String(20)),
    sa.Column("phone", sa.String(40)),
    sa.Column("street", sa.String(255)),
    sa.Column("city", sa.String(40)),
    sa.Column("postal_code", sa.String(20)),
    sa.Column("country_code", sa.String(2)),
    sa.Column("credit_hold", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("crm_id", sa.String(18), unique=True),
)
CONTACTS = sa.Table(
    "contacts",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id")),
    sa.Column("first_name", sa.String(80)),
    sa.Column("last_name", sa.String(80), nullable=False),
    sa.Column("email", sa.String(80)),
    sa.Column("phone", sa.String(40)),
    sa.Column("title", sa.String(128)),
    sa.Column("crm_id", sa.String(18), unique=True),
)
CATEGORIES = sa.Table(
    "product_categories",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(20), unique=True, nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("crm_id", sa.String(18), unique=True),
)
PRODUCTS = sa.Table(
    "products",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(40), unique=True, nullable=False),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("kind", sa.String(10), nullable=False, server_default="product"),
    sa.Column("unit", sa.String(20), nullable=False, server_default="Each"),
    sa.Column("category_id", sa.Integer, sa.ForeignKey("product_categories.id")),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("crm_id", sa.String(18), unique=True),
)
PRICE_LISTS = sa.Table(
    "price_lists",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("is_standard", sa.Boolean, nullable=False, server_default=sa.false()),
)
PRICE_ENTRIES = sa.Table(
    "price_list_entries",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("price_list_id", sa.Integer, sa.ForeignKey("price_lists.id"), nullable=False),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), nullable=False),
    sa.Column("unit_price", sa.Numeric(12, 2), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("crm_id", sa.String(18), unique=True),
)

TABLES: tuple[tuple[str, str], ...] = (
    ("customers", "id"),
    ("contacts", "id"),
    ("product_categories", "id"),
    ("products", "id"),
    ("price_lists", "id"),
    ("price_list_entries", "id"),
)

_PREFIXES = ("Nova", "Polo", "Wis", "Tatra", "Bal", "Orl", "Mazo", "Sile", "Karpa", "Odra")
_SUFFIXES = ("tech", "bud", "met", "pol", "trans", "med", "soft", "chem", "agro", "plast")
_FORMS = ("Sp. z o.o.", "S.A.", "Sp. j.", "GmbH", "s.r.o.")
_CITIES = (
    ("Warszawa", "00-950", "PL"),
    ("Kraków", "30-001", "PL"),
    ("Gdańsk", "80-001", "PL"),
    ("Poznań", "60-001", "PL"),
    ("Wrocław", "50-001", "PL"),
    ("Berlin", "10115", "DE"),
    ("Praha", "110 00", "CZ"),
    ("Łódź", "90-001", "PL"),
)
_FIRST = ("Anna", "Piotr", "Maria", "Jan", "Katarzyna", "Tomasz", "Ewa", "Marek", "Zofia", "Adam")
_LAST = ("Nowak", "Kowalski", "Wiśniewska", "Wójcik", "Kamińska", "Lewandowski", "Zielińska")
_TITLES = ("Purchasing Manager", "CFO", "Owner", "Logistics Lead", "Buyer")
_CATEGORIES = (
    ("HW", "Hardware"),
    ("SW", "Software"),
    ("SRV", "Services"),
    ("SPR", "Spare parts"),
    ("CON", "Consumables"),
)
_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
BAD_NIP_CUSTOMER = 13


def nip(rng: random.Random) -> str:
    """A random valid Polish NIP (ten digits, the last a checksum)."""
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(8)]
        check = sum(d * w for d, w in zip(digits, _NIP_WEIGHTS, strict=True)) % 11
        if check != 10:
            return "".join(map(str, digits)) + str(check)


def _ascii(text: str) -> str:
    """Drop diacritics (ł has no decomposition, so it is mapped by hand)."""
    text = text.replace("ł", "l").replace("Ł", "L")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def create_sample_erp(url: str, *, customers: int = 200, seed: int = 7) -> dict[str, int]:
    """Create the sample ERP's tables at the SQLAlchemy ``url`` (dropping old ones) and fill them.

    Returns:
        Rows per table.
    """
    rng = random.Random(seed)
    engine = sa.create_engine(url)
    try:
        METADATA.drop_all(engine)
        METADATA.create_all(engine)
        with engine.begin() as conn:
            _fill(conn, rng, customers)
        with engine.connect() as conn:
            return {
                table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
                for table in METADATA.sorted_tables
            }
    finally:
        engine.dispose()


def _fill(conn: sa.Connection, rng: random.Random, customers: int) -> None:
    conn.execute(CATEGORIES.insert(), [{"code": c, "name": n} for c, n in _CATEGORIES])
    products = []
    for n in range(1, 41):
        category = rng.randint(1, len(_CATEGORIES))
        kind = "service" if category == 3 else "product"
        products.append(
            {
                "code": f"P-{n:04d}",
                "name": f"{_CATEGORIES[category - 1][1]} item {n:03d}",
                "kind": kind,
                "unit": "Hour" if kind == "service" else "Each",
                "category_id": category,
            }
        )
    conn.execute(PRODUCTS.insert(), products)
    conn.execute(
        PRICE_LISTS.insert(), [{"name": "Standard", "currency": "PLN", "is_standard": True}]
    )
    conn.execute(
        PRICE_ENTRIES.insert(),
        [
            {
                "price_list_id": 1,
                "product_id": n,
                "currency": "PLN",
                "unit_price": Decimal(f"{rng.randint(20, 5000)}.{rng.randint(0, 99):02d}"),
            }
            for n in range(1, 41)
        ],
    )
    rows = []
    for n in range(1, customers + 1):
        city, postal, country = rng.choice(_CITIES)
        tax_id = nip(rng)
        if n == BAD_NIP_CUSTOMER:
            tax_id = tax_id[:-1] + str((int(tax_id[-1]) + 1) % 10)  # a wrong checksum
        rows.append(
            {
                "number": f"C-{n:05d}",
                "name": f"{rng.choice(_PREFIXES)}{rng.choice(_SUFFIXES)} {n} {rng.choice(_FORMS)}",
                "nip": tax_id,
                "phone": "+48 " + " ".join(str(rng.randint(100, 999)) for _ in range(3)),
                "street": f"ul. {rng.choice(_LAST)}a {rng.randint(1, 200)}",
                "city": city,
                "postal_code": postal,
                "country_code": country,
            }
        )
    conn.execute(CUSTOMERS.insert(), rows)
    contacts = []
    for customer in range(1, customers + 1):
        for _ in range(2):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            contacts.append(
                {
                    "customer_id": customer,
                    "first_name": first,
                    "last_name": last,
                    "email": _ascii(f"{first}.{last}.{customer}@example.com".lower()),
                    "title": rng.choice(_TITLES),
                }
            )
    conn.execute(CONTACTS.insert(), contacts)


__all__ = ["BAD_NIP_CUSTOMER", "METADATA", "TABLES", "create_sample_erp", "nip"]

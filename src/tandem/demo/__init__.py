"""The embedded demo: a sample ERP, the CRM sandbox, a real sync between them."""

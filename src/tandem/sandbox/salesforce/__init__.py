"""sandbox/salesforce."""

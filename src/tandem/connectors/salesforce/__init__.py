"""connectors/salesforce."""

"""Platform-neutral core: events, the ingestion pipeline, consent and services."""

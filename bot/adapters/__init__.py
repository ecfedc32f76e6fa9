"""Platform adapters: translate platform updates into core events and hand them to the core."""

"""GMS: the Service API (services built from the configuration) and the Storage API."""

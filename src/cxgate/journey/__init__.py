"""Context Services (`/genesys/1/cs`): customer journeys made of services, states and tasks."""

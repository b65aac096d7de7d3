"""The HTTP layer: it translates requests into domain calls and domain results into responses."""

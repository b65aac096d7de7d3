"""Backing-service status: the registry (the GWS `services` resource), the probes that feed it
on a timer, maintenance mode, the request guard, and the notification plane (CometD + bus)."""

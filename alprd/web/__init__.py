"""The web console and HTTP API (docs/web.md): its own process, reading SQL and the bus."""

"""``finbot chaos``: proof under faults. Worker processes killed at random moments,
Redis and PostgreSQL stopped mid-run, then the invariants that must survive all of it."""

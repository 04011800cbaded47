"""nbjobs' own state (apply history, lock holder, installation identity) in its own `nbjobs_*` tables,
created by Alembic migrations in the same database as Nautobot's, so it commits with the change."""

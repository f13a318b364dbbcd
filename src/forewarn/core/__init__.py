"""Domain-free kit: settings, database, embedded PostgreSQL, jobs, keys, errors, clock, logs."""

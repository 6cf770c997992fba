"""RFC 5545 recurrence rules and their expansion in a time zone: a pure library (no Django models)."""

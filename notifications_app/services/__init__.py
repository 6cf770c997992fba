"""Every write of notifications_app; the only code that sends its domain signals."""

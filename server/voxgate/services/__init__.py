"""Framework-free logic behind the handlers."""

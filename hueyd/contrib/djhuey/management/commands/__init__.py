"""run_huey: the consumer of a Django project."""

"""Integrations with other frameworks (Django: djhuey), as huey.contrib has them."""

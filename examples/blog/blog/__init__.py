"""A small blog app whose background jobs run on hueyd (the demo and the tests use it)."""

"""huey's public API (the task library). Import names from :mod:`hueyd` instead."""

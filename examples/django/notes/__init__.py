"""notes: the example app (one model, its tasks in tasks.py)."""

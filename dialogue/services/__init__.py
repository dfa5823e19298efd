"""Writes of the dialogue app, one module per job (keyword-only, typed)."""

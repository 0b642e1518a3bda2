"""`avp serve`: a fitted router behind an OpenAI-compatible HTTP endpoint (server.py)."""

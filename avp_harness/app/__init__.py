"""The application layer: the use cases every front end (CLI, TUI) calls.

    routing.py   load a router with its embedding, fit, refit, sweep, route

Front ends parse and print (cli/) or show (tui/); they run no workflow of their own.
"""

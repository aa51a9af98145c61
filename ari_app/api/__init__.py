"""The HTTP API: transport only; decisions live in calls.py."""

"""Helpers shared by tests of every level (not tests themselves)."""

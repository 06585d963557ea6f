"""Rendering: Report -> table | json | csv | markdown, and plots. Never computes."""

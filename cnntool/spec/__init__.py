"""The spec language: YAML text -> Model (loading, expressions, expansion, expect blocks, zoo)."""

"""The territory's multi-year digital programme and its evaluation (issue 24)."""

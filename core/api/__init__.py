"""The API plumbing every app shares: the envelope renderer, the one exception handler,
the error-envelope and page schemas, paging, permissions, throttles and id fields."""

"""Use cases: each composes the pure engine with the store and delivery."""

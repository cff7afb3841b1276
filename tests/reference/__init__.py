"""Independent reference implementations used to check the pipeline's numbers.

Nothing in this package imports from ``pipelines``: it re-implements docs/landing-contract.md and
docs/published-tables.md from the documents alone, so that a shared bug cannot hide itself.
"""

"""App-neutral helpers at the bottom of the house plan: errors, atomic files, reports,
image helpers, progress reporting and the API plumbing every app shares.

Nothing in ``core`` imports any of our apps; every app may import ``core``.
"""

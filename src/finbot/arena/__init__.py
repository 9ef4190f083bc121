"""The red-team arena: people attack the agents in a sandbox, and the arena shows whether
an attack moved money or leaked data.

Detectors (``detectors/``) read the event stream and name what they saw; challenges,
scoring and the ledger-effect check build on their hits.
"""

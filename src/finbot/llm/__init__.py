"""The language-model layer: one Model port, a provider per vendor API, the offline model,
record/replay, the router and the contextual wrapper agents are handed."""

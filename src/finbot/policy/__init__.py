"""Guardrails, circuit breakers and the rules-only fallback: the deterministic gate."""

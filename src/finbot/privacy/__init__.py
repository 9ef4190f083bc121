"""Keeping personal data where it belongs: redaction for text that leaves the database."""

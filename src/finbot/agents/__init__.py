"""The agents: they read, reason and emit proposals; they are never handed a way to write."""

"""Redis adapters: the event streams of the production deployment."""

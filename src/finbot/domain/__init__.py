"""Pure business rules: money, ledger, sagas. Imports only the standard library."""

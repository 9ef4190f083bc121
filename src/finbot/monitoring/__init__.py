"""Monitoring statistics: drift, rates and bias over decision records, as pure functions.

Nothing here reads a database or a clock: ``services/monitoring.py`` reads the windows and
hands their values in, so each number can be checked by hand in a unit test.
"""

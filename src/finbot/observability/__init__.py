"""What FinBot tells its operators about itself: structured logs (``logs``, redacted by
``scrub``), traces (``tracing``), the request context of the web app (``requests``), and
the one call an entry point makes to set them up (``setup``)."""

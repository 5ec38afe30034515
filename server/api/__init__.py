"""The REST API under ``/api``: one module per resource, each exporting its ``ENDPOINTS``."""

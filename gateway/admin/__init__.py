"""The operator's web pages under /admin/ (see gateway.admin.routes)."""

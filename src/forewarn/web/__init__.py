"""HTTP composition: the app factory, every domain's API routers and pages, errors, middleware."""

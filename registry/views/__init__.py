"""Staff pages of the registry, one module per part; each has its own `urlpatterns`."""

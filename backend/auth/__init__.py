"""Users, roles, scopes, bearer tokens."""

"""Offline sync wired into the application: syncable entities, scopes, the feed hook, routes."""

"""HTTP plumbing shared by every feature: routing, JSON, pagination, problems, OpenAPI."""

"""Web pages for people who do not write code: sign-in, landing, map, trace and API reference."""

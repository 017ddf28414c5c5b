"""Incidents: seizures, licence violations, armed-group presence and inspection findings."""

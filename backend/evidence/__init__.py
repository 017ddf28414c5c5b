"""Internal-control evidence: the checks of DESIGN §5 over an export parcel's backward trace."""

"""Chain of custody: lots, append-only custody events, trace, mass balance and EPCIS export."""

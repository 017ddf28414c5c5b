"""Control predicates that custody flags and evidence checks share: one definition each."""

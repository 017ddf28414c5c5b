"""The audit trail: who changed what, when, from which device, before and after."""

"""The server side of offline sync: op ledger, change feed, conflicts, devices, attachments."""

"""The registry: jurisdictions, miners, organisations, licences, sites and site visits."""

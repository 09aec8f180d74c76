"""二标四实: standard addresses, dwellings, residents, organisations and facilities (the base-data registry)."""

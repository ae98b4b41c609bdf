"""Rose Ash's shared core: configuration, database, models, contracts, services and the
infrastructure every app is built from."""

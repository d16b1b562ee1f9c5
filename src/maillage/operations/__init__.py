"""Operating the platform: backups that restore, key export for the deployer's safe, schema upgrade checks."""

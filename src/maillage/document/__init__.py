"""Patient documents: uploads checked by content, stored encrypted through the vault, read under authorization."""

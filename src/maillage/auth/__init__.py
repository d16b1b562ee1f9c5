"""Authentication: accounts, passwords, second factor, sessions, API tokens, device credentials."""

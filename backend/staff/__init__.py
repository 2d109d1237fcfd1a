"""Collections staff: accounts, roles, sessions of the console."""

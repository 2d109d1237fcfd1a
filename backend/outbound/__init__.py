"""Messages the backend sends on its own initiative: e-mail now, reminders later."""

"""Collections KPIs for the staff console: definitions, queries, charts and the page."""

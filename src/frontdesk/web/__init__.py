"""HTTP: the webhook receiver, health and metrics (the console, API and inbox come later)."""

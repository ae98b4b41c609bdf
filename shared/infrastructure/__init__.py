"""What every app is built from: the app factory, request plumbing, CSRF, logging and the CLI."""

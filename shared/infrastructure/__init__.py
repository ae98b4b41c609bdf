"""The web platform every app is built from: the app factory, the request context, sign-in,
CSRF, fragments, the page cache, ActivityPub and logging. It never imports shared.services
or shared.tooling (the import contracts in pyproject.toml check it)."""

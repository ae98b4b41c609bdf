"""The deployment: images, the stack file, deploy.sh, the entrypoint and a real Swarm."""

# The stack's Docker secrets (docker-compose.yml), which `deploy.sh --local` creates.
STACK_SECRETS = (
    "postgres_password",
    "database_url",
    "redis_password",
    "redis_url",
    "rose_secret_key",
    "rose_internal_secret",
    "rose_smtp_password",
    "rose_oidc_private_key",
    "rose_ap_private_key",
    "rose_ghost_content_key",
    "rose_ghost_admin_key",
    "rose_ghost_webhook_secret",
    "rose_sumup_api_key",
    "rose_sumup_merchant_code",
    "rose_metrics_token",
)

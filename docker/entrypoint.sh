#!/usr/bin/env bash
# The start-up every Rose Ash container shares; each service's <service>/entrypoint.sh execs it.
#
#   entrypoint.sh serve APP   secrets, wait for PostgreSQL, migrate if RUN_MIGRATIONS=true, Hypercorn
#   entrypoint.sh worker      secrets, wait for PostgreSQL, the worker (the OutboxProcessor)
#   entrypoint.sh migrate     secrets, wait for PostgreSQL, `rose-ash migrate` (a one-off task)
#   entrypoint.sh CMD ARGS... secrets, then CMD (a shell, `rose-ash demo`, ...)
#
# Docker secrets are files under /run/secrets. For each secret variable VAR listed below, VAR_FILE
# may name such a file; its content (without trailing newlines) becomes VAR. Setting both VAR and
# VAR_FILE, or naming an unreadable or empty file, stops the container with one line saying so.
#
# The last step is `exec`, so the server replaces this shell and receives Docker's SIGTERM itself:
# Hypercorn stops accepting, finishes in-flight requests (graceful_timeout) and exits, which is
# what lets a start-first rolling update drain a replica.
set -euo pipefail

# Every secret a Rose Ash process reads. A new secret is added here, in .env.example and as a
# Docker secret in docker-compose.yml.
# ROSE_OIDC_PRIVATE_KEY is given to federation only (the one app that signs ID tokens), the
# ROSE_GHOST_* keys to blog only (Ghost sync and its webhook); a variable without its _FILE is
# simply skipped.
SECRET_VARS=(DATABASE_URL REDIS_URL ROSE_SECRET_KEY ROSE_INTERNAL_SECRET ROSE_SMTP_PASSWORD
    ROSE_OIDC_PRIVATE_KEY ROSE_AP_PRIVATE_KEY ROSE_GHOST_CONTENT_KEY ROSE_GHOST_ADMIN_KEY
    ROSE_GHOST_WEBHOOK_SECRET ROSE_SUMUP_API_KEY ROSE_SUMUP_MERCHANT_CODE ROSE_METRICS_TOKEN)

say() { printf 'entrypoint: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

load_secret_files() {
    local var file_var file value
    for var in "${SECRET_VARS[@]}"; do
        file_var="${var}_FILE"
        file="${!file_var:-}"
        [[ -n "$file" ]] || continue
        [[ -z "${!var:-}" ]] || die "both ${var} and ${file_var} are set; set only one"
        [[ -f "$file" && -r "$file" ]] || die "${file_var}: cannot read ${file}"
        value="$(<"$file")"
        [[ -n "$value" ]] || die "${file_var}: ${file} is empty"
        export "${var}=${value}"
        unset "${file_var}"
    done
}

wait_for_database() {
    # Bounded: a stack that cannot reach PostgreSQL fails here with a clear line, and Swarm's
    # restart_policy retries the task, instead of an app serving 500s.
    python -m shared.tooling.container wait-for-database --timeout "${DB_WAIT_TIMEOUT:-60}" ||
        die "PostgreSQL is not reachable; giving up (DB_WAIT_TIMEOUT=${DB_WAIT_TIMEOUT:-60})"
}

main() {
    local command="${1:-}"
    [[ -n "$command" ]] || die "no command (expected serve APP, worker, migrate or a program)"
    shift
    load_secret_files
    case "$command" in
        serve)
            local app="${1:-}"
            [[ -n "$app" ]] || die "serve needs an app name"
            wait_for_database
            if [[ "${RUN_MIGRATIONS:-false}" == "true" ]]; then
                # Only blog's service sets RUN_MIGRATIONS; its replicas queue on the advisory
                # lock in shared/alembic/env.py, so starting several at once is safe.
                say "RUN_MIGRATIONS=true: migrating"
                rose-ash migrate
            fi
            exec rose-ash serve "$app" --bind "${ROSE_BIND:-0.0.0.0:8000}" \
                --workers "${WEB_CONCURRENCY:-2}"
            ;;
        worker)
            wait_for_database
            exec rose-ash worker
            ;;
        migrate)
            wait_for_database
            exec rose-ash migrate
            ;;
        *)
            exec "$command" "$@"
            ;;
    esac
}

main "$@"

#!/usr/bin/env bash
# The account container's entrypoint. With no arguments it serves account: Docker secrets into the
# environment, wait for PostgreSQL, migrate when RUN_MIGRATIONS=true, then Hypercorn on ROSE_BIND
# with WEB_CONCURRENCY workers. The steps are shared by every service: docker/entrypoint.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ $# -eq 0 ]]; then
    set -- serve account
fi
exec "${here}/../docker/entrypoint.sh" "$@"

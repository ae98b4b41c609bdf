"""`rose-ash keys generate`: a new RSA private key for ``ROSE_AP_PRIVATE_KEY``."""

from __future__ import annotations

import argparse
import os
import sys

from shared.infrastructure.activitypub.keys import generate_private_key_pem
from shared.services.domain import Subcommands


def add_commands(sub: Subcommands) -> None:
    p = sub.add_parser("keys", help="manage the ActivityPub signing key")
    keys_sub = p.add_subparsers(dest="keys_command", required=True)
    k = keys_sub.add_parser("generate", help="print a new RSA private key (PEM)")
    k.add_argument("--bits", type=int, default=3072, help="key size (at least 2048; default 3072)")
    k.add_argument("--out", help="write to this new file (mode 600) instead of printing")
    k.set_defaults(func=_keys_generate)


def _keys_generate(args: argparse.Namespace) -> int:
    pem = generate_private_key_pem(args.bits)
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(pem)
        print(f"Wrote a {args.bits}-bit key to {args.out}; set ROSE_AP_PRIVATE_KEY to its content.")
    else:
        sys.stdout.write(pem)
    return 0

"""Lighthouse on the key pages, on Debian's Chromium: ``python -m bench.lighthouse``.

Measures the site at the configured app URLs — run `rose-ash up --demo` in another terminal
first — for every app's home page, a post, a product, a category and the month calendar, as a
phone (Lighthouse's mobile emulation, throttled) and as a desktop, and writes the four category
scores to ``bench/lighthouse.md`` (``bench/results.md`` is rewritten whole by ``python -m
bench``). Lighthouse comes from the npm registry, pinned in ``bench/lighthouse/package.json``
and its lock file; ``npm ci`` installs it on the first run (Node 18.16 or later).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from shared.config import load_settings

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "lighthouse"
CLI = PACKAGE / "node_modules" / "lighthouse" / "cli" / "index.js"
PAGES = [
    ("blog", "/"),
    ("market", "/"),
    ("cart", "/"),
    ("events", "/"),
    ("federation", "/"),
    ("account", "/"),
    ("blog", "/posts/welcome-to-rose-ash"),
    ("market", "/products/sourdough-loaf"),
    ("market", "/categories/bakery"),
    ("events", "/month"),
]
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
TARGET = 95


def _install() -> None:
    if CLI.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("bench.lighthouse needs Node.js and npm (apt-get install nodejs npm)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PACKAGE, check=True)  # noqa: S603


def _scores(url: str, form_factor: str, chromium: str) -> dict[str, int]:
    node = shutil.which("node") or "node"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        args = [node, str(CLI), url, "--quiet", "--output=json", f"--output-path={out}"]
        args.append("--chrome-flags=--headless=new --no-sandbox --disable-gpu")
        args.append(f"--only-categories={','.join(CATEGORIES)}")
        if form_factor == "desktop":
            args.append("--preset=desktop")
        env = {**os.environ, "CHROME_PATH": chromium}
        # Lighthouse sometimes loses its trace of a load (NO_NAVSTART) and asks to be run
        # again: up to three tries, the last one's failure stopping the run.
        for attempt in range(3):
            try:
                subprocess.run(args, env=env, check=True, timeout=300)  # noqa: S603 - fixed tool
                break
            except subprocess.CalledProcessError:
                if attempt == 2:
                    raise
        report = json.loads(out.read_text())
    return {c: round(report["categories"][c]["score"] * 100) for c in CATEGORIES}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lighthouse", description=__doc__)
    parser.add_argument("--chromium", default=os.environ.get("ROSE_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--output", type=Path, default=HERE / "lighthouse.md")
    args = parser.parse_args()
    _install()
    settings = load_settings()
    load_before = os.getloadavg()
    rows = []
    for app, path in PAGES:
        url = settings.apps[app].public_url + path
        for form_factor in ("mobile", "desktop"):
            scores = _scores(url, form_factor, args.chromium)
            rows.append((app, path, form_factor, scores))
            print(app, path, form_factor, scores, flush=True)
    version = json.loads((CLI.parents[1] / "package.json").read_text())["version"]
    lines = [
        "# Lighthouse",
        "",
        f"Run {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')} with Lighthouse {version}"
        f" on {Path(args.chromium).name} (`python -m bench.lighthouse` against `rose-ash up"
        f" --demo`, development mode); target: at least {TARGET} in every category.",
        "",
        f"Machine load (1, 5, 15 min) at the start: {load_before}; at the end:"
        f" {os.getloadavg()} on {os.cpu_count()} CPUs. Performance is measured on this machine,"
        " so a loaded one scores lower; the other categories do not depend on it.",
        "",
        "| page | form factor | " + " | ".join(CATEGORIES) + " |",
        "|---|---|" + "---:|" * len(CATEGORIES),
    ]
    for app, path, form_factor, scores in rows:
        cells = " | ".join(
            f"{scores[c]}" if scores[c] >= TARGET else f"**{scores[c]}**" for c in CATEGORIES
        )
        lines.append(f"| {app} {path} | {form_factor} | {cells} |")
    lines += ["", "Scores below the target are in bold.", ""]
    args.output.write_text("\n".join(lines))
    print(args.output.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

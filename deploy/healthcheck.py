"""Container healthcheck of the web process: GET a local path (default /readyz); exit 0 on 200, 1 otherwise.

    python deploy/healthcheck.py [/readyz|/healthz] [--port 8000]

The request carries the first CLEARCUE_ALLOWED_HOSTS entry as its Host header, so Django's host check passes
without adding localhost to the allowed hosts. Standard library only: the slim image has no curl.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request


def main(argv: list[str] | None = None) -> int:
    """Probe the path and print the answer's first line (Docker keeps it with the health status)."""
    parser = argparse.ArgumentParser(description="Probe the local Clearcue web process.")
    parser.add_argument("path", nargs="?", default="/readyz")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    hosts = [h.strip() for h in os.environ.get("CLEARCUE_ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = next((h for h in hosts if h != "*" and not h.startswith(".")), "localhost")
    request = urllib.request.Request(f"http://127.0.0.1:{args.port}{args.path}", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:  # noqa: S310 (a fixed local URL)
            print((response.read(200).decode("utf-8", "replace").splitlines() or [""])[0])
            return 0 if response.status == 200 else 1
    except urllib.error.HTTPError as error:
        print(f"{error.code}: {error.read(200).decode('utf-8', 'replace')}")
    except (urllib.error.URLError, OSError) as error:
        print(f"unreachable: {error}")
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""The export store on Google Cloud Storage: gcsfs with the environment's credentials."""

from __future__ import annotations

import os

import fsspec

from tributary.storage import DEFAULT_TIMEOUTS, Timeouts

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


def is_gcs_url(url: str) -> bool:
    return url.startswith(("gs://", "gcs://"))


def gcs_filesystem(
    *, project: str | None = None, timeouts: Timeouts = DEFAULT_TIMEOUTS
) -> fsspec.AbstractFileSystem:
    """gcsfs authenticated by application default credentials (GOOGLE_APPLICATION_CREDENTIALS,
    gcloud's login, or the metadata server of GCE/GKE). With STORAGE_EMULATOR_HOST set, gcsfs
    talks to that emulator, anonymously, as google-cloud-storage does.

    A server that accepts connections and never answers fails a request after gcsfs's 6
    attempts of `timeouts.read` each (with its backoff, about 30 s more): without a timeout of
    its own, aiohttp's 5 minutes a request held an export for half an hour."""
    import aiohttp

    options: dict[str, object] = {
        "token": "anon" if os.environ.get(EMULATOR_ENV) else "google_default",
        # A fresh instance: fsspec's cache would keep an endpoint read from an older environment.
        "skip_instance_cache": True,
        "requests_timeout": aiohttp.ClientTimeout(
            sock_connect=timeouts.connect, sock_read=timeouts.read
        ),
    }
    if project:
        options["project"] = project
    return fsspec.filesystem("gs", **options)

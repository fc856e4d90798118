"""Post a model report on a pull or merge request as ONE comment, updated in place on every push.

    python .ci/post_report.py github|gitlab BODY.md

The comment is found again by a hidden marker on its first line, so re-runs edit it instead of
piling up new ones. Standard library only (runs before or without the project's install).

GitHub (in Actions): GITHUB_API_URL, GITHUB_REPOSITORY, PR_NUMBER and a token in GH_TOKEN (the
workflow's GITHUB_TOKEN with `pull-requests: write`). GitLab (in CI): CI_API_V4_URL,
CI_PROJECT_ID, CI_MERGE_REQUEST_IID and MUSIC_GENRE_REPORT_TOKEN (a project access token with
the `api` scope, a masked CI/CD variable). Exit 0 when posted; exit 3 when the forge refused
(a pull request from a fork has a read-only token: the job summary is the fallback); exit 1 on
missing settings or a bad call.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

MARKER = "<!-- music-genre-report -->"
PER_PAGE = 100
MAX_PAGES = 50


class ForgeRefusedError(Exception):
    """The forge answered with an error status."""


def _request(method: str, url: str, headers: dict[str, str], body: dict | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        # The forge's API URL comes from the CI's own environment.
        with urllib.request.urlopen(request, timeout=30) as response:  # nosec B310
            text = response.read().decode()
    except urllib.error.HTTPError as error:
        raise ForgeRefusedError(f"{method} {url}: HTTP {error.code} {error.reason}") from None
    return json.loads(text) if text else None


def _settings(names: list[str]) -> dict[str, str]:
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise SystemExit(f"post_report: error: set {', '.join(missing)}")
    return {name: os.environ[name] for name in names}


def _find(list_url: str, headers: dict[str, str]) -> Any:
    """The id of the comment whose body starts with the marker, or None."""
    for page in range(1, MAX_PAGES + 1):
        comments = _request("GET", f"{list_url}?per_page={PER_PAGE}&page={page}", headers)
        for comment in comments or []:
            if str(comment.get("body", "")).startswith(MARKER):
                return comment["id"]
        if not comments or len(comments) < PER_PAGE:
            return None
    return None


def _upsert(list_url: str, edit_url: str, edit: str, headers: dict[str, str], text: str) -> str:
    """Edit the marked comment (`edit_url` formatted with its id), or create it."""
    found = _find(list_url, headers)
    if found is None:
        _request("POST", list_url, headers, {"body": text})
        return "created"
    _request(edit, edit_url.format(found), headers, {"body": text})
    return "updated"


def post(forge: str, body: str) -> str:
    """Create or update the report comment; returns 'created' or 'updated'."""
    text = body if body.startswith(MARKER) else f"{MARKER}\n{body}"
    if forge == "github":
        env = _settings(["GITHUB_API_URL", "GITHUB_REPOSITORY", "PR_NUMBER", "GH_TOKEN"])
        headers = {
            "Authorization": f"Bearer {env['GH_TOKEN']}",
            "Accept": "application/vnd.github+json",
        }
        base = f"{env['GITHUB_API_URL']}/repos/{env['GITHUB_REPOSITORY']}"
        list_url = f"{base}/issues/{env['PR_NUMBER']}/comments"
        return _upsert(list_url, f"{base}/issues/comments/{{}}", "PATCH", headers, text)
    if forge == "gitlab":
        env = _settings(
            ["CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID", "MUSIC_GENRE_REPORT_TOKEN"]
        )
        headers = {"PRIVATE-TOKEN": env["MUSIC_GENRE_REPORT_TOKEN"]}
        project = urllib.request.quote(env["CI_PROJECT_ID"], safe="")
        list_url = (
            f"{env['CI_API_V4_URL']}/projects/{project}"
            f"/merge_requests/{env['CI_MERGE_REQUEST_IID']}/notes"
        )
        return _upsert(list_url, f"{list_url}/{{}}", "PUT", headers, text)
    raise SystemExit(f"post_report: error: unknown forge '{forge}' (expected github or gitlab)")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        raise SystemExit("usage: python .ci/post_report.py github|gitlab BODY.md")
    forge, path = argv
    try:
        body = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise SystemExit(f"post_report: error: {path}: {error.strerror}") from None
    try:
        print(f"post_report: comment {post(forge, body)}")
    except (ForgeRefusedError, urllib.error.URLError) as error:
        print(f"post_report: could not comment ({error}); the job summary has the report")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The forge CI files (.github/workflows/, .gitlab-ci.yml), checked offline, and the script that
posts the report as one comment, against a fake forge on 127.0.0.1."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
GITLAB = ROOT / ".gitlab-ci.yml"
POST = ROOT / ".ci" / "post_report.py"
MARKER = "<!-- music-genre-report -->"


def _tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_there_are_a_ci_and_a_report_workflow():
    assert {path.name for path in WORKFLOWS} == {"ci.yml", "report.yml"}


@pytest.mark.parametrize(
    ("schema", "files"),
    [("vendor.github-workflows", WORKFLOWS), ("vendor.gitlab-ci", [GITLAB])],
)
def test_the_files_validate_against_their_schemas(schema, files):
    result = _tool("check-jsonschema", "--builtin-schema", schema, *map(str, files))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_zizmor_finds_nothing(persona):
    result = _tool("zizmor", "--offline", "--persona", persona, *map(str, WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_workflows_pin_actions_by_commit_and_check_out_full_history():
    for path in WORKFLOWS:
        spec = yaml.safe_load(path.read_text())
        assert spec["permissions"] == {}, path.name  # each job asks for its own
        for job in spec["jobs"].values():
            assert job["permissions"], path.name
            for step in job["steps"]:
                if "uses" in step:
                    assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", step["uses"]), step
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["fetch-depth"] == 0
                    assert step["with"]["persist-credentials"] is False


def _scripts() -> Iterator[tuple[str, str]]:
    for path in WORKFLOWS:
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            for number, step in enumerate(job["steps"]):
                if "run" in step:
                    yield f"{path.name}:{name}:{number}", step["run"]
    spec = yaml.safe_load(GITLAB.read_text())
    for name, job in spec.items():
        if isinstance(job, dict):
            for key in ("before_script", "script"):
                lines = job.get(key) or []
                if lines:
                    yield f"{GITLAB.name}:{name}:{key}", "\n".join(lines)


def test_every_run_step_passes_shellcheck(tmp_path):
    scripts = list(_scripts())
    assert len(scripts) >= 10
    files = []
    for label, script in scripts:
        assert "${{" not in script, f"{label}: an expression inside run: (use env:)"
        path = tmp_path / f"{len(files)}.sh"
        path.write_text("#!/usr/bin/env bash\nset -euo pipefail\n" + script + "\n")
        files.append(path)
    result = _tool("shellcheck", "--severity=style", *map(str, files))
    assert result.returncode == 0, result.stdout


class FakeForge(BaseHTTPRequestHandler):
    """Just enough of GitHub's and GitLab's comment APIs: list, create, edit."""

    comments: list[dict]
    requests: list[tuple[str, str, str]]
    refuse = False

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def do_GET(self):
        auth = self.headers.get("Authorization") or self.headers.get("PRIVATE-TOKEN")
        self.requests.append(("GET", self.path, auth))
        page = int(re.search(r"[?&]page=(\d+)", self.path).group(1))
        self._reply(200, self.comments[(page - 1) * 100 : page * 100])

    def do_POST(self):
        self.requests.append(("POST", self.path, ""))
        if self.refuse:
            self._reply(403, {"message": "Resource not accessible by integration"})
            return
        comment = {"id": len(self.comments) + 1, "body": self._body()["body"]}
        self.comments.append(comment)
        self._reply(201, comment)

    def _edit(self):
        self.requests.append((self.command, self.path, ""))
        comment_id = int(self.path.rstrip("/").rsplit("/", 1)[1])
        comment = next(c for c in self.comments if c["id"] == comment_id)
        comment["body"] = self._body()["body"]
        self._reply(200, comment)

    def do_PATCH(self):
        self._edit()

    def do_PUT(self):
        self._edit()

    def log_message(self, *args):
        pass


@pytest.fixture
def forge() -> Iterator[tuple[str, type[FakeForge]]]:
    handler = type("Forge", (FakeForge,), {"comments": [], "requests": [], "refuse": False})
    # Someone else's comments first: more than a page, so the search must page.
    handler.comments.extend({"id": i, "body": f"comment {i}"} for i in range(1, 121))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def _post(forge_name: str, body: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(POST), forge_name, str(body)],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "case",
    [
        (
            "github",
            {"GITHUB_REPOSITORY": "team/music-genre", "PR_NUMBER": "7", "GH_TOKEN": "t0k"},
            "/repos/team/music-genre/issues/7/comments",
            "PATCH /repos/team/music-genre/issues/comments/121",
        ),
        (
            "gitlab",
            {"CI_PROJECT_ID": "42", "CI_MERGE_REQUEST_IID": "7", "MUSIC_GENRE_REPORT_TOKEN": "t0k"},
            "/projects/42/merge_requests/7/notes",
            "PUT /projects/42/merge_requests/7/notes/121",
        ),
    ],
)
def test_one_comment_is_created_then_updated_in_place(forge, tmp_path, case):
    name, settings, comments_path, edit = case
    url, handler = forge
    api = {"GITHUB_API_URL": url} if name == "github" else {"CI_API_V4_URL": url}
    body = tmp_path / "comment.md"
    for round_number in (1, 2):
        body.write_text(f"# Model report\n\nround {round_number}\n")
        result = _post(name, body, {**settings, **api})
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip() == (
            "post_report: comment created" if round_number == 1 else "post_report: comment updated"
        )
    ours = [c for c in handler.comments if c["body"].startswith(MARKER)]
    assert len(ours) == 1 and ours[0]["body"].endswith("round 2\n")
    assert f"{edit.split()[0]} {edit.split()[1]}" in [f"{m} {p}" for m, p, _ in handler.requests]
    gets = [(p, auth) for m, p, auth in handler.requests if m == "GET"]
    assert all(p.startswith(comments_path) for p, _ in gets)
    assert {auth for _, auth in gets} == {"Bearer t0k" if name == "github" else "t0k"}


def test_a_read_only_token_is_reported_not_raised(forge, tmp_path):
    url, handler = forge
    handler.refuse = True
    body = tmp_path / "comment.md"
    body.write_text("# Model report\n")
    settings = {
        "GITHUB_REPOSITORY": "a/b",
        "PR_NUMBER": "1",
        "GH_TOKEN": "x",
        "GITHUB_API_URL": url,
    }
    result = _post("github", body, settings)
    assert result.returncode == 3
    assert "HTTP 403" in result.stdout and "job summary" in result.stdout


def test_missing_settings_are_named_in_one_line(tmp_path):
    body = tmp_path / "comment.md"
    body.write_text("x")
    result = _post("gitlab", body, {})
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("post_report: error: set CI_API_V4_URL, CI_PROJECT_ID")
    )

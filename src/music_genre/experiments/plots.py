"""`dvc plots show/diff` that render without a network.

DVC's HTML loads Vega from a CDN, so its pages are blank offline. This writes an HTML template
with the Vega, Vega-Lite and Vega-Embed bundle (shipped by vl-convert-python) inlined, and hands
it to `dvc plots ... --html-template`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from music_genre.core import commands
from music_genre.core.errors import PipelineError
from music_genre.core.fileio import atomic_path

# DVC's plot templates are Vega-Lite 5 specifications.
VEGA_LITE_VERSION = "5.21"
TEMPLATE_PATH = Path(".dvc", "tmp", "offline_plots_template.html")
PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>DVC plots (offline)</title>
<script type="text/javascript">
__BUNDLE__
</script>
<style>table { border-spacing: 15px; }</style>
</head>
<body>
{plot_divs}
</body>
</html>
"""


def write_template(path: Path = TEMPLATE_PATH) -> Path:
    import vl_convert

    # vl-convert's stub marks `snippet` as required; at run time it is optional (its default
    # snippet exposes vegaEmbed, vegaLite and vega globally, which the template uses).
    bundle = vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION)  # type: ignore[call-arg]
    # DVC fills {placeholders} by plain string replacement: keep the bundle free of them.
    bundle = bundle.replace("{plot_divs}", "{ plot_divs}").replace("{scripts}", "{ scripts}")
    with atomic_path(path) as tmp:
        tmp.write_text(PAGE.replace("__BUNDLE__", bundle), encoding="utf-8")
    return path


def run_dvc_plots(command: str, arguments: Sequence[str]) -> int:
    """Run `dvc plots <command> <arguments>` with the offline template; return its exit code."""
    if command not in ("show", "diff"):
        raise PipelineError(f"plots: unknown command '{command}' (expected show or diff)")
    template = write_template()
    # The user's own arguments are passed through to dvc; its output goes to the terminal.
    arguments = ["plots", command, "--html-template", str(template), *arguments]
    return commands.run("dvc", arguments, capture=False).returncode

"""dvclive, as used inside DVC stages: metrics and plots go where dvc.yaml declares them.

dvc.yaml declares every metric and plot by hand, so dvclive must neither rewrite dvc.yaml nor
save experiments of its own; and its plots go under the top-level plots/ folder rather than
beside the metrics.
"""

from __future__ import annotations

import os

from dvclive import Live


class StageLive(Live):
    """A dvclive logger whose metrics live in `metrics_dir` and plots in `plots_dir`."""

    def __init__(
        self, metrics_dir: str | os.PathLike[str], plots_dir: str | os.PathLike[str]
    ) -> None:
        self._stage_plots_dir = str(plots_dir)
        super().__init__(dir=str(metrics_dir), dvcyaml=False, save_dvc_exp=False, report=None)

    @property
    def plots_dir(self) -> str:
        return self._stage_plots_dir

"""The class ``hydra/sweeper=guided`` instantiates; the code is ``cvzoo.sweeps.guided_sweeper``."""

from __future__ import annotations

from cvzoo.sweeps.guided_sweeper import GuidedSweeper as _GuidedSweeper


class GuidedSweeper(_GuidedSweeper):
    """Model-guided sweep over a two-axis grid (see ``cvzoo.sweeps.guided_sweeper``)."""

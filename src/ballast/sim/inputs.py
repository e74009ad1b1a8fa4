"""The input builder's old address, kept because many tests and ``sim/fine.py`` import it:
the builder lives in ``ballast/inputs/`` (below both hosts, so live never imports ``sim``)."""

from ballast.inputs.site import SiteInputs, build_inputs

__all__ = ["SiteInputs", "build_inputs"]

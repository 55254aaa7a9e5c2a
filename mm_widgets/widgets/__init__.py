"""Jupyter widgets over the core: label, review, show, the spline explorer.

Kept empty on purpose: each widget module imports ipywidgets itself, on first use.
"""

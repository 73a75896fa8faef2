"""Reusable views with no lesson knowledge: heatmaps, training panels, linked scatters, tables,
controls generated from settings dataclasses. Labs in ``lab8widgets.widgets`` compose them."""

"""Widths for a table's text columns: what the numbers leave, shared by weight."""

from __future__ import annotations


def text_widths(total: int, numbers: int, columns: int, weights: list[int], least: int = 8) -> list[int]:
    """Widths for text columns weighted by `weights`, in a table `total` cells wide with
    `columns` columns in all (each padded by one cell a side), whose number columns
    take `numbers` cells together; at least `least` each."""
    free = total - numbers - 2 * columns - 2  # the padding, and the scrollbar
    return [max(least, free * weight // sum(weights)) for weight in weights]

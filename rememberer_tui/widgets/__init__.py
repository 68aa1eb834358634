"""Rendering helpers shared by the screens."""

"""Helpers shared by several lint rules, one topic per module; they never import a rule."""

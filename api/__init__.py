"""Thin HTTP layer over the planning pipeline (Flask)."""

from api.app import create_app

__all__ = ["create_app"]

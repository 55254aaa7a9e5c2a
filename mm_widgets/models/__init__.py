"""Micro-model kinds, registered by name (``"yolo"``, ``"timm"``, ``"interpolate"``)."""

from .base import MODEL_KINDS, MicroModel, make_model, register_model

__all__ = ["MODEL_KINDS", "MicroModel", "make_model", "register_model"]

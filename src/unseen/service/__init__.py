"""HTTP scoring service for saved models (FastAPI app, run by ``unseen serve``)."""

from unseen.service.app import create_app
from unseen.service.settings import ServiceSettings, read_token

__all__ = ["ServiceSettings", "create_app", "read_token"]

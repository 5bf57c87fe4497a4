"""Model files: one safetensors file per fitted pipeline, never pickle."""

from unseen.io.model_file import FORMAT_VERSION, load_pipeline, read_model_file, save_pipeline

__all__ = ["FORMAT_VERSION", "load_pipeline", "read_model_file", "save_pipeline"]

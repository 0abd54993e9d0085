"""Models: timm backbones, the pyramid adapter, heads, and the model that joins them."""

from cvzoo.models.model import CvzooModel, ModelInfo, build_model

__all__ = ["CvzooModel", "ModelInfo", "build_model"]

"""DIANet and its backbones.

Importing the package registers every backbone: efficientnetv2_s, efficientnetv2_b0,
resnet18, convnext_tiny, mobilevit_s, mobilevit_xxs.
"""

from training.models import convnext, efficientnet, mobilevit, resnet  # noqa: F401  (register backbones)
from training.models.dianet import (DIANet, DIANetOutput, ModelConfig, create_model, dianet_loss,
                                    input_names)
from training.models.registry import Backbone, create_backbone, list_backbones

__all__ = ["Backbone", "DIANet", "DIANetOutput", "ModelConfig", "create_backbone", "create_model", "dianet_loss",
           "input_names", "list_backbones"]

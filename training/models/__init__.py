"""DIANet and its backbones.

Importing the package registers every backbone: efficientnetv2_s, efficientnetv2_b0,
resnet18, convnext_tiny, mobilevit_s, mobilevit_xxs.
"""

from training.models import convnext, efficientnet, mobilevit, resnet  # noqa: F401  (register backbones)
from training.models.dianet import (DIANet, DIANetOutput, ModelConfig, check_inputs, create_model, dianet_loss,
                                    input_names, list_inputs)
from training.models.fusion import check_fusion, list_fusions
from training.models.registry import Backbone, check_backbone, create_backbone, list_backbones

__all__ = ["Backbone", "DIANet", "DIANetOutput", "ModelConfig", "check_backbone", "check_fusion", "check_inputs",
           "create_backbone", "create_model", "dianet_loss", "input_names", "list_backbones", "list_fusions",
           "list_inputs"]

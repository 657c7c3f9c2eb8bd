"""DIANet, its sibling methods and their backbones.

Importing the package registers every backbone (efficientnetv2_s, efficientnetv2_b0, resnet18,
convnext_tiny, mobilevit_s, mobilevit_xxs) and every network (dianet, afn, fmanet, meganet);
training.models.methods lists the methods.
"""

from training.models import afn, convnext, efficientnet, fmanet, meganet, mobilevit, resnet  # noqa: F401  (register)
from training.models.dianet import DIANet, DIANetOutput, dianet_loss
from training.models.fusion import check_fusion, list_fusions
from training.models.methods import (METHODS, ModelConfig, check_method, create_model, input_names, list_methods)
from training.models.registry import Backbone, check_backbone, create_backbone, list_backbones

check_inputs = check_method  # ModelConfig.inputs names the method
list_inputs = list_methods

__all__ = ["METHODS", "Backbone", "DIANet", "DIANetOutput", "ModelConfig", "check_backbone", "check_fusion",
           "check_inputs", "check_method", "create_backbone", "create_model", "dianet_loss", "input_names",
           "list_backbones", "list_fusions", "list_inputs", "list_methods"]

"""The model zoo: torchvision exports, hand-built edge-case graphs, reference models.

Importable as `halp_graph.models`. `zoo` exports torchvision classifiers with either ONNX
exporter (cached); `edge_cases` builds small graphs in code that pin down one channel
rule each; `REFERENCE_MODEL` is the small trained network the README's commands prune.
"""

import os

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE_MODEL = os.path.join(HERE, "fmnist_resnet.onnx")

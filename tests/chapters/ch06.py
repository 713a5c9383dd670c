"""Chapter 6: facts the chapter must show, and realistic wrong answers to the exercises.

FACTS: (chapter notebook stem, text that must appear in the outputs of its executed cells).
WRONG: (what the mistake is, {solution cell grade_id: replacement source},
        set of test cell grade_ids that must then fail).
"""

FACTS = [
    ("06_alexnet", "Conv2d output shape: torch.Size([1, 96, 54, 54])"),
    ("06_alexnet", "MaxPool2d output shape: torch.Size([1, 256, 5, 5])"),
    ("06_alexnet", "Flatten output shape: torch.Size([1, 6400])"),
    ("06_alexnet", "Linear output shape: torch.Size([1, 10])"),
    ("06_alexnet", "total: 46,764,746 parameters, 1,876,292,352 FLOPs per image"),
    ("06_alexnet", "dense layers: 92.0% of the parameters"),
    ("06_alexnet", "convolutions: 8.0% of the parameters, 95.4% of the FLOPs"),
    ("06_alexnet", "most parameters: fc1 (26,218,496); most FLOPs: conv2 (830,668,800)"),
    ("06_alexnet", "agree with FlopCounterMode and the modules for all 8 layers"),
    ("06_alexnet", "checked on 200 random configurations"),
    ("06_alexnet", "evaluation mode: tensor([1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1., 1.])"),
    ("06_alexnet", "cut-down run: alexnet_mini on 28 x 28 images"),
    ("06_alexnet", "data: Fashion-MNIST"),
]

_ALEX = '''
def alexnet(in_channels, num_classes, image_size=224):
    side = (image_size + 2 * 1 - 11) // 4 + 1
    for _ in range(3):
        side = (side - 3) // 2 + 1
    return nn.Sequential(
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(96, 256, kernel_size=5, padding=2), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(256, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(256 * side * side, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(4096, num_classes))
'''

_COSTS = '''
def layer_costs(net, input_shape):
    rows = []
    names = {m: name for name, m in net.named_modules()}

    def hook(layer, inputs, out):
        params = sum(p.numel() for p in layer.parameters())
        if isinstance(layer, nn.Conv2d):
            kh, kw = layer.kernel_size
            B, co, ho, wo = out.shape
            flops = 2 * B * (layer.in_channels // layer.groups) * kh * kw * co * ho * wo
        else:
            flops = 2 * out[..., 0].numel() * layer.in_features * layer.out_features
        rows.append((names[layer], params, flops))

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    device = next(net.parameters()).device
    try:
        with torch.no_grad():
            net(torch.rand(*input_shape, device=device))
    finally:
        for h in handles:
            h.remove()
    return rows
'''

_DOM = '''
def dominant_layers(net, input_shape):
    costs = layer_costs(net, input_shape)
    most_params = max(costs, key=lambda row: row[1])[0]
    most_flops = max(costs, key=lambda row: row[2])[0]
    return most_params, most_flops
'''

_SLIM = '''
def slim_alexnet(c):
    return nn.Sequential(
        nn.Conv2d(1, c, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(c, 2 * c, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(2 * c, 3 * c, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(3 * c, 3 * c, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(3 * c, 2 * c, kernel_size=3, padding=1), nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Flatten(),
        nn.Linear(2 * c * 3 * 3, 16 * c), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(16 * c, 16 * c), nn.ReLU(), nn.Dropout(p=0.5),
        nn.Linear(16 * c, 10))
'''

WRONG = [
    ("first dense layer sized for 224 x 224 only (the chapter's 256 * 5 * 5)",
     {"alexnet": _ALEX.replace("256 * side * side", "256 * 5 * 5")},
     {"test_alexnet"}),
    ("no padding in the stem (same shapes, different outputs)",
     {"alexnet": _ALEX.replace("stride=4, padding=1", "stride=4")},
     {"test_alexnet"}),
    ("padding 2 in the stem (55 x 55 maps, flatten size adjusted to 6 x 6)",
     {"alexnet": _ALEX.replace("stride=4, padding=1", "stride=4, padding=2").replace("2 * 1 - 11", "2 * 2 - 11")},
     {"test_alexnet"}),
    ("flatten size off (256 * 6 * 6 with the right stem)",
     {"alexnet": _ALEX.replace("256 * side * side", "256 * 6 * 6")},
     {"test_alexnet"}),
    ("ReLU missing after the last convolution",
     {"alexnet": _ALEX.replace("nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(),",
                               "nn.Conv2d(384, 256, kernel_size=3, padding=1),")},
     {"test_alexnet"}),
    ("in_channels ignored: the stem always takes one channel",
     {"alexnet": _ALEX.replace("nn.Conv2d(in_channels, 96,", "nn.Conv2d(1, 96,")},
     {"test_alexnet"}),
    ("dropout probability 0.2 instead of 0.5",
     {"alexnet": _ALEX.replace("nn.Dropout(p=0.5)", "nn.Dropout(p=0.2)")},
     {"test_alexnet"}),
    ("FLOPs without the factor 2 (multiply-adds counted once)",
     {"layer_costs": _COSTS.replace("flops = 2 * B *", "flops = B *").replace("flops = 2 * out", "flops = out")},
     {"test_layer_costs"}),
    ("batch size ignored in the FLOPs",
     {"layer_costs": _COSTS.replace("flops = 2 * B *", "flops = 2 *").replace("2 * out[..., 0].numel() *", "2 *")},
     {"test_layer_costs"}),
    ("groups ignored in the convolution FLOPs",
     {"layer_costs": _COSTS.replace("(layer.in_channels // layer.groups)", "layer.in_channels")},
     {"test_layer_costs"}),
    ("bias left out of the parameter count",
     {"layer_costs": _COSTS.replace("params = sum(p.numel() for p in layer.parameters())",
                                    "params = layer.weight.numel()")},
     {"test_layer_costs"}),
    ("only direct children searched (nested blocks missed)",
     {"layer_costs": _COSTS.replace("for m in net.modules() if isinstance", "for m in net.children() if isinstance")},
     {"test_layer_costs"}),  # dominant_layers is tested with the course's layer_costs
    ("the two answers swapped",
     {"dominant_layers": _DOM.replace("return most_params, most_flops", "return most_flops, most_params")},
     {"test_dominant_layers"}),
    ("FLOPs of the dense layers only compared with parameters (most FLOPs taken among dense layers)",
     {"dominant_layers": '''
def dominant_layers(net, input_shape):
    costs = layer_costs(net, input_shape)
    dense = {name for name, m in net.named_modules() if isinstance(m, nn.Linear)}
    most_params = max(costs, key=lambda row: row[1])[0]
    most_flops = max((row for row in costs if row[0] in dense), key=lambda row: row[2])[0]
    return most_params, most_flops
'''},
     {"test_dominant_layers"}),
    ("ReLU missing after the last convolution",
     {"slim_alexnet": _SLIM.replace("nn.Conv2d(3 * c, 2 * c, kernel_size=3, padding=1), nn.ReLU(),",
                                    "nn.Conv2d(3 * c, 2 * c, kernel_size=3, padding=1),")},
     {"test_slim_alexnet"}),
    ("2x2 instead of 3x3 window in the last pooling (same 3 x 3 output shape)",
     {"slim_alexnet": _SLIM.replace("nn.MaxPool2d(kernel_size=3, stride=2)", "nn.MaxPool2d(kernel_size=2, stride=2)")},
     {"test_slim_alexnet"}),
    ("sigmoid where ReLU is asked (dense block)",
     {"slim_alexnet": _SLIM.replace("nn.Linear(2 * c * 3 * 3, 16 * c), nn.ReLU()", "nn.Linear(2 * c * 3 * 3, 16 * c), nn.Sigmoid()")},
     {"test_slim_alexnet"}),
    ("flatten size off (2c * 7 * 7: the last pooling forgotten)",
     {"slim_alexnet": _SLIM.replace("        nn.MaxPool2d(kernel_size=3, stride=2),\n", "")
                           .replace("2 * c * 3 * 3", "2 * c * 7 * 7")},
     {"test_slim_alexnet"}),
    ("widths hard-coded for c = 8",
     {"slim_alexnet": _SLIM.replace("def slim_alexnet(c):\n", "def slim_alexnet(c):\n    c = 8\n")},
     {"test_slim_alexnet"}),
]

# Shortcuts: the right numbers obtained without the work the text asks for. Each must fail the
# visible test as well as the hidden one (tests/test_exercises.py checks both).
SHORTCUTS = [
    ("FLOPs measured with FlopCounterMode around each layer instead of computed from its shapes",
     {"layer_costs": '''
from torch.utils.flop_counter import FlopCounterMode

def layer_costs(net, input_shape):
    rows = []
    names = {m: name for name, m in net.named_modules()}

    def hook(layer, inputs, out):
        with FlopCounterMode(display=False) as counter:
            layer.forward(*inputs)
        rows.append((names[layer], sum(p.numel() for p in layer.parameters()), counter.get_total_flops()))

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        with torch.no_grad():
            net(torch.rand(*input_shape, device=next(net.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    return rows
'''},
     {"test_layer_costs"}),
    ("the whole network run once under the FLOP counter, its per-module table read back",
     {"layer_costs": '''
from torch.utils import flop_counter

def layer_costs(net, input_shape):
    counter = flop_counter.FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        net(torch.rand(*input_shape, device=next(net.parameters()).device))
    per_module = counter.get_flop_counts()
    rows = []
    for name, m in net.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            key = type(net).__name__ + "." + name     # the counter's name for the module
            rows.append((name, sum(p.numel() for p in m.parameters()), int(sum(per_module.get(key, {}).values()))))
    return rows
'''},
     {"test_layer_costs"}),
    ("AlexNet imported from the course instead of written",
     {"alexnet": "from convcourse.models.alexnet import alexnet\n"},
     {"test_alexnet"}),
    ("the course's AlexNet builder wrapped, at the asked width",
     {"slim_alexnet": '''
import convcourse.models.alexnet as course_models

def slim_alexnet(c):
    return course_models.alexnet_mini(1, 10)
'''},
     {"test_slim_alexnet"}),
    ("the course's own layer table asked for the dominant layers",
     {"dominant_layers": '''
def dominant_layers(net, input_shape):
    costs = reference.layer_costs(net, input_shape)
    return max(costs, key=lambda row: row[1])[0], max(costs, key=lambda row: row[2])[0]
'''},
     {"test_dominant_layers"}),
]

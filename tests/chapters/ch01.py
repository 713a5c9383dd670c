"""Chapter 1: facts the chapter must show, and realistic wrong answers to the exercises.

FACTS: (chapter notebook stem, text that must appear in the outputs of its executed cells).
WRONG: (what the mistake is, {solution cell grade_id: replacement source},
        set of test cell grade_ids that must then fail). Everything else must still pass,
        so the submission loses exactly the points of those test cells.
"""

from tests.chapters import chapter_definitions

_STEM = "01_cross_correlation"

FACTS = [
    ("01_cross_correlation", "tensor([[19., 25.],\n        [37., 43.]])"),
    ("01_cross_correlation", "checked 200 random configurations: shape (n_h-k_h+1) x (n_w-k_w+1)\n"
                             "and values match F.conv2d"),
    ("01_cross_correlation", "tensor([[ 0.,  1.,  0.,  0.,  0., -1.,  0.],\n        [ 0.,  1.,  0.,  0.,  0., -1.,  0.],\n"
                             "        [ 0.,  1.,  0.,  0.,  0., -1.,  0.],\n        [ 0.,  1.,  0.,  0.,  0., -1.,  0.],\n"
                             "        [ 0.,  1.,  0.,  0.,  0., -1.,  0.],\n        [ 0.,  1.,  0.,  0.,  0., -1.,  0.]])"),
    ("01_cross_correlation", "corr2d(X.t(), K) is all zeros: True | shape (8, 5)"),
    ("01_cross_correlation", "tensor([[ 0.,  0.,  0.,  0.,  0.,  0.],\n        [ 1.,  1.,  1.,  1.,  1.,  1.],"),
    ("01_cross_correlation", "corr2d(X, K.t()) is all zeros: True"),
    ("01_cross_correlation", "learned kernel: tensor([[ 1.0000, -1.0000]])"),
    ("01_cross_correlation", "tensor([[ 5., 11.],\n        [23., 29.]])"),
    ("01_cross_correlation", "learned by true convolution:  tensor([[-1.0000,  1.0000]])"),
    ("01_cross_correlation", "3 stacked 3x3 layers: receptive field 7x7"),
    ("01_cross_correlation", "grad_fn of the output: CopySlices"),
    ("01_cross_correlation", "a leaf Variable that requires grad is being used in an in-place operation."),
    ("01_cross_correlation", "has been modified by an inplace"),
    # the syllabus' setting: a layer with a bias, lr 0.01, 20 steps
    ("01_cross_correlation", "kernel: [0.949, -0.948] | bias: -0.001"),
]

_CORR_OK = '''
def corr2d(X, K):
    k_h, k_w = K.shape
    o_h, o_w = X.shape[0] - k_h + 1, X.shape[1] - k_w + 1
    Y = torch.zeros((o_h, o_w), dtype=X.dtype, device=X.device)
    for a in range(k_h):
        for b in range(k_w):
            Y += K[a, b] * X[a:a + o_h, b:b + o_w]
    return Y
'''

_CONV2D_OK = '''
class Conv2D(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        k_h, k_w = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        b = 1 / (k_h * k_w) ** 0.5
        self.weight = nn.Parameter(torch.empty(k_h, k_w).uniform_(-b, b))
        self.bias = nn.Parameter(torch.empty(1).uniform_(-b, b))

    def forward(self, X):
        return corr2d(X, self.weight) + self.bias
'''


WRONG = [
    ("true convolution instead of cross-correlation",
     {"corr2d": _CORR_OK.replace("K[a, b]", "K[k_h - 1 - a, k_w - 1 - b]")},
     # the answers that call corr2d are tested with the course's corr2d: only corr2d loses points
     {"test_corr2d"}),
    ("output one row and column too small (n - k instead of n - k + 1)",
     {"corr2d": _CORR_OK.replace("- k_h + 1", "- k_h").replace("- k_w + 1", "- k_w")},
     {"test_corr2d"}),
    ("conv2d flips only one axis",
     {"conv2d_flip": "def conv2d(X, K):\n    return corr2d(X, torch.flip(K, dims=(1,)))"},
     {"test_conv2d_flip"}),
    ("bias forgotten in the forward pass",
     {"Conv2D": _CONV2D_OK.replace("corr2d(X, self.weight) + self.bias", "corr2d(X, self.weight)")},
     {"test_Conv2D"}),
    ("edge kernel with the wrong sign, Laplacian with the wrong centre, blur not normalised",
     {"kernels": '''
def edge_kernel(direction):
    kernels = {"vertical": [[-1.0, 1.0]], "horizontal": [[-1.0], [1.0]],
               "diagonal": [[-1.0, 0.0], [0.0, 1.0]]}
    return torch.tensor(kernels[direction])

def laplacian_kernel():
    return torch.tensor([[0.0, 1.0, 0.0], [1.0, -2.0, 1.0], [0.0, 1.0, 0.0]])

def blur_kernel(k):
    return torch.ones((k, k))
'''},
     {"test_edge_kernel", "test_laplacian_kernel", "test_blur_kernel"}),
    ("mean squared error instead of the summed one",
     {"learn_kernel": '''
def learn_kernel(X, Y, kernel_size, lr, steps):
    K = torch.zeros(kernel_size, device=X.device, requires_grad=True)
    for _ in range(steps):
        loss = ((corr2d(X, K) - Y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            K -= lr * K.grad
            K.grad.zero_()
    return K.detach()
'''},
     {"test_learn_kernel"}),
    ("gradient of the plain sum: G forgotten",
     {"corr2d_grads": '''
def corr2d_grads(X, K, G):
    X = X.detach().clone().requires_grad_(True)
    K = K.detach().clone().requires_grad_(True)
    corr2d(X, K).sum().backward()
    return X.grad, K.grad
'''},
     {"test_corr2d_grads"}),
    ("output always float32 (created without dtype=X.dtype): right numbers, wrong dtype for float64",
     {"corr2d": _CORR_OK.replace("dtype=X.dtype, ", "")},
     {"test_corr2d"}),
    ("shift-and-add whose slices run to the end of X instead of stopping after o_h, o_w rows and columns",
     {"corr2d": _CORR_OK.replace("X[a:a + o_h, b:b + o_w]", "X[a:, b:]")},
     {"test_corr2d"}),
    # the chapter's code copied: each loses exactly its item
    ("the chapter's corr2d copied: a loop over the output's pixels, far over the operation budget",
     {"corr2d": chapter_definitions(_STEM, "corr2d")},
     {"test_corr2d"}),
    ("the chapter's corr2d_unfold copied (renamed corr2d): windows of X by unfold",
     {"corr2d": chapter_definitions(_STEM, "corr2d_unfold").replace("def corr2d_unfold(", "def corr2d(")},
     {"test_corr2d"}),
    ("the chapter's Conv2D copied: weight uniform on [0, 1), bias zero",
     {"Conv2D": chapter_definitions(_STEM, "Conv2D")},
     {"test_Conv2D"}),
    ("Conv2D with the bound 1/(k_h k_w) instead of 1/sqrt(k_h k_w): too narrow",
     {"Conv2D": _CONV2D_OK.replace("b = 1 / (k_h * k_w) ** 0.5", "b = 1 / (k_h * k_w)")},
     {"test_Conv2D"}),
    ("Conv2D with the weight uniform on [-b, b] but the bias zero",
     {"Conv2D": _CONV2D_OK.replace("torch.empty(1).uniform_(-b, b)", "torch.zeros(1)")},
     {"test_Conv2D"}),
    ("Conv2D that handles an int kernel_size only, not a pair",
     {"Conv2D": _CONV2D_OK.replace(
         "k_h, k_w = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size",
         "k_h = k_w = kernel_size")},
     {"test_Conv2D"}),
    ("Conv2D by kaiming_uniform_(a=sqrt(5)) on the 2-D weight: its fan-in is taken as k_w, not k_h k_w",
     {"Conv2D": _CONV2D_OK.replace(
         "self.weight = nn.Parameter(torch.empty(k_h, k_w).uniform_(-b, b))",
         "self.weight = nn.Parameter(nn.init.kaiming_uniform_(torch.empty(k_h, k_w), a=5 ** 0.5))")},
     {"test_Conv2D"}),
]

# Shortcuts: answers that get the numbers without doing what the exercise asks (here: PyTorch's
# convolution instead of plain tensor operations). Each loses exactly its item, and the visible
# test already says why.
_LIST_LOOP = '''
    h, w = len(k), len(k[0])
    y = [[sum(x[i + a][j + b] * k[a][b] for a in range(h) for b in range(w))
          for j in range(len(x[0]) - w + 1)] for i in range(len(x) - h + 1)]
    return torch.tensor(y, dtype=X.dtype, device=X.device)
'''
# the chapter's per-pixel loop on the tensors' elements, read one by one: the operation budget
# of the visible and hidden tests counts every element read
WRONG.append(
    ("corr2d as a loop over the tensors' elements read one by one (float(v))",
     {"corr2d": "def corr2d(X, K):\n    x = [[float(v) for v in row] for row in X]\n"
                "    k = [[float(v) for v in row] for row in K]" + _LIST_LOOP},
     {"test_corr2d"}))
SHORTCUTS = [
    # the chapter's per-pixel loop taken out of PyTorch's dispatcher, where the operation budget
    # cannot count it: refused by name (convcourse.check.OUTSIDE_DISPATCHER, autograder/scan.py)
    ("corr2d as a loop over Python lists (tolist)",
     {"corr2d": "def corr2d(X, K):\n    x, k = X.tolist(), K.tolist()" + _LIST_LOOP},
     {"test_corr2d"}),
    ("corr2d as a loop over NumPy arrays",
     {"corr2d": "import numpy as np\ndef corr2d(X, K):\n    x, k = np.asarray(X.cpu()), np.asarray(K.cpu())"
                + _LIST_LOOP},
     {"test_corr2d"}),
    ("corr2d through F.conv2d",
     {"corr2d": "def corr2d(X, K):\n    return torch.nn.functional.conv2d(X[None, None], K[None, None])[0, 0]"},
     {"test_corr2d"}),
    ("conv2d through F.conv2d with the kernel flipped",
     {"conv2d_flip": "def conv2d(X, K):\n"
                     "    return torch.nn.functional.conv2d(X[None, None], K.flip(0, 1)[None, None])[0, 0]"},
     {"test_conv2d_flip"}),
    ("Conv2D whose forward is F.conv2d",
     {"Conv2D": _CONV2D_OK.replace(
         "corr2d(X, self.weight) + self.bias",
         "torch.nn.functional.conv2d(X[None, None], self.weight[None, None])[0, 0] + self.bias")},
     {"test_Conv2D"}),
    ("learn_kernel whose loss uses F.conv2d",
     {"learn_kernel": '''
def learn_kernel(X, Y, kernel_size, lr, steps):
    K = torch.zeros(kernel_size, dtype=X.dtype, device=X.device, requires_grad=True)
    for _ in range(steps):
        loss = ((torch.nn.functional.conv2d(X[None, None], K[None, None])[0, 0] - Y) ** 2).sum()
        loss.backward()
        with torch.no_grad():
            K -= lr * K.grad
            K.grad.zero_()
    return K.detach()
'''},
     {"test_learn_kernel"}),
    ("corr2d_grads from torch.nn.grad instead of autograd through the loop",
     {"corr2d_grads": '''
def corr2d_grads(X, K, G):
    dX = torch.nn.grad.conv2d_input(X[None, None].shape, K[None, None], G[None, None])[0, 0]
    dK = torch.nn.grad.conv2d_weight(X[None, None], K[None, None].shape, G[None, None])[0, 0]
    return dX, dK
'''},
     {"test_corr2d_grads"}),
]

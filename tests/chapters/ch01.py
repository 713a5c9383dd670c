"""Chapter 1: facts the chapter must show, and realistic wrong answers to the exercises.

FACTS: (chapter notebook stem, text that must appear in the outputs of its executed cells).
WRONG: (what the mistake is, {solution cell grade_id: replacement source},
        set of test cell grade_ids that must then fail). Everything else must still pass,
        so the submission loses exactly the points of those test cells.
"""

FACTS = [
    ("01_cross_correlation", "tensor([[19., 25.],\n        [37., 43.]])"),
    ("01_cross_correlation", "checked 200 random configurations: shape (n_h-k_h+1) x (n_w-k_w+1) and values match F.conv2d"),
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
    ("01_cross_correlation", "has been modified by an inplace operation"),
]

_CORR_OK = '''
def corr2d(X, K):
    h, w = K.shape
    Y = torch.zeros((X.shape[0] - h + 1, X.shape[1] - w + 1), device=X.device)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y
'''

WRONG = [
    ("true convolution instead of cross-correlation",
     {"corr2d": _CORR_OK.replace("* K).sum()", "* K.flip(0, 1)).sum()")},
     # conv2d flips again, so it becomes a cross-correlation: wrong too
     {"test_corr2d", "test_conv2d_flip", "test_Conv2D", "test_learn_kernel", "test_corr2d_grads",
      "test_edge_kernel"}),
    ("output one row and column too small (n - k instead of n - k + 1)",
     {"corr2d": _CORR_OK.replace("- h + 1", "- h").replace("- w + 1", "- w")},
     {"test_corr2d", "test_conv2d_flip", "test_Conv2D", "test_edge_kernel", "test_laplacian_kernel",
      "test_blur_kernel", "test_learn_kernel", "test_corr2d_grads"}),
    ("conv2d flips only one axis",
     {"conv2d_flip": "def conv2d(X, K):\n    return corr2d(X, torch.flip(K, dims=(1,)))"},
     {"test_conv2d_flip"}),
    ("bias forgotten in the forward pass",
     {"Conv2D": '''
class Conv2D(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.weight = nn.Parameter(torch.rand(kernel_size))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, X):
        return corr2d(X, self.weight)
'''},
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
]

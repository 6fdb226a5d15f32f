"""The activations on torch tensors (private); torch is imported on the first call, never with the theory."""


def _torch_tanh(x):
    import torch

    return torch.tanh(x)


def _torch_erf(x):
    import torch

    return torch.erf(x)


def _torch_gelu(x):
    import torch.nn.functional as F

    return F.gelu(x)


def _torch_silu(x):
    import torch.nn.functional as F

    return F.silu(x)


def _torch_elu(x):
    import torch.nn.functional as F

    return F.elu(x)

#!/usr/bin/env python3
"""A small PyTorch training loop for the real-GPU suite: fixed seed, deterministic
algorithms, synthetic data generated on the CPU, a two-layer MLP trained with SGD+momentum for
a fixed number of steps on the GPU. Prints the loss every 10 steps (as exact float hex) and a
checksum of the final parameters, so runs with and without the shim in every mode can be
compared byte for byte. Exits 77 (skipped) when PyTorch or a CUDA device is missing."""
import hashlib
import os
import random
import sys

# Set before torch loads cuBLAS, and forced (not defaulted): a different value inherited from
# the environment would change which kernels run. One run on the H100 (2026-11-25) gave a
# baseline that differed from all four shimmed runs, which agreed with each other.
os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"  # deterministic cuBLAS reductions
os.environ["DISABLE_ADDMM_CUDA_LT"] = "1"  # plain cuBLAS GEMM for Linear, not cuBLASLt heuristics

try:
    import torch
except ImportError:
    print("skipped: no PyTorch")
    sys.exit(77)

if not torch.cuda.is_available():
    print("skipped: no CUDA device for PyTorch")
    sys.exit(77)

random.seed(1234)
torch.manual_seed(1234)
torch.cuda.manual_seed_all(1234)
torch.use_deterministic_algorithms(True)
torch.backends.cudnn.benchmark = False
torch.backends.cudnn.deterministic = True
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction = False
torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction = False
torch.set_float32_matmul_precision("highest")  # no TF32 anywhere
# The data is made on the CPU: one thread, so the CPU GEMM's blocking (and its rounding)
# cannot change with the number of threads the machine happens to offer.
torch.set_num_threads(1)

dev = torch.device("cuda")
g = torch.Generator().manual_seed(99)
x = torch.randn(4096, 256, generator=g)
w_true = torch.randn(256, 1, generator=g)
y = torch.tanh(x @ w_true) + 0.01 * torch.randn(4096, 1, generator=g)
x, y = x.to(dev), y.to(dev)

model = torch.nn.Sequential(
    torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 1)
).to(dev)
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
loss_fn = torch.nn.MSELoss()

for step in range(60):
    idx = torch.arange((step * 256) % 4096, (step * 256) % 4096 + 256, device=dev)
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x[idx]), y[idx])
    loss.backward()
    opt.step()
    if step % 10 == 9:
        print(f"step {step + 1} loss {float(loss.item()).hex()}")

h = hashlib.sha256()
total = 0.0
for name, p in model.named_parameters():
    t = p.detach().cpu().contiguous()
    h.update(name.encode())
    h.update(t.numpy().tobytes())
    total += float(t.double().sum())
print(f"params sum {total.hex()} sha256 {h.hexdigest()[:32]}")
print("done")

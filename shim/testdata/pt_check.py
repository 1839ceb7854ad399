# The shim owner's PyTorch self-check: a small MLP trained for a few steps with a fixed seed
# and deterministic kernels; prints every loss and a hash of the final weights (stdout must
# match the unshimmed run).
import hashlib
import torch

torch.manual_seed(0)
torch.use_deterministic_algorithms(True)
torch.backends.cuda.matmul.allow_tf32 = False
dev = "cuda"
model = torch.nn.Sequential(torch.nn.Linear(512, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 10)).to(dev)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
x = torch.randn(4096, 512, device=dev)
y = torch.randint(0, 10, (4096,), device=dev)
for step in range(20):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
    print("step", step, loss.item().hex())
h = hashlib.sha256()
for p in model.parameters():
    h.update(p.detach().cpu().numpy().tobytes())
print("weights", h.hexdigest()[:16])

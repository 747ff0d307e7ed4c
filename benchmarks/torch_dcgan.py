"""ganzoo's DCGAN (ganzoo/models/dcgan.py, norm="batch") written in PyTorch, layer for layer,
trained the way ganzoo trains it (ganzoo/engine.py): a discriminator step on separate real and
fake passes with the generator frozen, then a generator step through the frozen
discriminator; non-saturating loss on logits, Adam(2e-4, betas (0.5, 0.999), eps 1e-7 as
Keras'), N(0, 0.02) weights. Optional: only imported when torch is installed
(``pip install -e '.[bench]'``).

Generator: Linear(latent, s*s*C0, no bias) -> view [C0, s, s] -> per upsampling: BN, ReLU,
ConvTranspose(4, stride 2, pad 1, no bias) -> BN, ReLU, ConvTranspose(to channels, bias) ->
tanh. Discriminator: per downsampling Conv(4, stride 2, pad 1, bias) (+ BN after the first),
LeakyReLU(0.2) -> flatten -> Linear(1). Keras' "same" padding for kernel 4, stride 2 on even
sizes is 1 pixel each side, which is PyTorch's padding=1; Keras' BN momentum 0.9 is
PyTorch's momentum 0.1, epsilon 1e-5 in both.
"""
import os

import torch
from torch import nn
from torch.nn import functional as F

from ganzoo.models.dcgan import num_upsamplings


def _init(module):
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class Generator(nn.Module):
    def __init__(self, latent_dim, resolution, channels, width=64):
        super().__init__()
        n = num_upsamplings(resolution)
        self.start, self.c0 = resolution >> n, width * 2 ** (n - 1)
        self.dense = nn.Linear(latent_dim, self.start * self.start * self.c0, bias=False)
        blocks, c = [], self.c0
        for i in range(n - 1, 0, -1):
            blocks += [nn.BatchNorm2d(c, eps=1e-5, momentum=0.1), nn.ReLU(),
                       nn.ConvTranspose2d(c, width * 2 ** (i - 1), 4, 2, 1, bias=False)]
            c = width * 2 ** (i - 1)
        blocks += [nn.BatchNorm2d(c, eps=1e-5, momentum=0.1), nn.ReLU(),
                   nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=True), nn.Tanh()]
        self.body = nn.Sequential(*blocks)
        self.apply(_init)

    def forward(self, z):
        h = self.dense(z).view(-1, self.c0, self.start, self.start)
        return self.body(h)


class Discriminator(nn.Module):
    def __init__(self, resolution, channels, width=64):
        super().__init__()
        n = num_upsamplings(resolution)
        layers, c = [], channels
        for i in range(n):
            layers.append(nn.Conv2d(c, width * 2 ** i, 4, 2, 1, bias=True))
            c = width * 2 ** i
            if i:
                layers.append(nn.BatchNorm2d(c, eps=1e-5, momentum=0.1))
            layers.append(nn.LeakyReLU(0.2))
        self.body = nn.Sequential(*layers)
        side = resolution >> n
        self.dense = nn.Linear(c * side * side, 1)
        self.apply(_init)

    def forward(self, x):
        return self.dense(torch.flatten(self.body(x), 1))


def param_counts(module):
    """(trainable, non-trainable) like Keras counts them: parameters, and the BN running
    mean/variance buffers (PyTorch's num_batches_tracked counter has no Keras counterpart)."""
    trainable = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for name, b in module.named_buffers()
                  if not name.endswith("num_batches_tracked"))
    return trainable, buffers


class TorchDCGAN:
    """The two networks, their optimizers and one training step; ``precision`` "bfloat16"
    runs the step under ``torch.autocast("cpu", dtype=torch.bfloat16)``."""

    def __init__(self, latent_dim=100, resolution=28, channels=1, width=64,
                 precision="bfloat16", channels_last=False, seed=0):
        torch.set_num_threads(os.cpu_count() or 1)
        torch.manual_seed(seed)
        self.latent_dim = latent_dim
        self.generator = Generator(latent_dim, resolution, channels, width)
        self.discriminator = Discriminator(resolution, channels, width)
        self.channels_last = channels_last
        if channels_last:
            self.generator.to(memory_format=torch.channels_last)
            self.discriminator.to(memory_format=torch.channels_last)
        adam = dict(lr=2e-4, betas=(0.5, 0.999), eps=1e-7)
        self.d_opt = torch.optim.Adam(self.discriminator.parameters(), **adam)
        self.g_opt = torch.optim.Adam(self.generator.parameters(), **adam)
        self.precision = precision
        self.generator.train()
        self.discriminator.train()

    def autocast(self):
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bfloat16")

    def images(self, nhwc):
        """float32 NHWC numpy images -> the tensor layout this model trains on."""
        x = torch.from_numpy(nhwc).permute(0, 3, 1, 2)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        return x.contiguous(memory_format=fmt)

    def step(self, real):
        n = real.shape[0]
        g, d = self.generator, self.discriminator
        # Discriminator: G frozen (no gradients), separate real and fake passes.
        z = torch.randn(n, self.latent_dim)
        with torch.no_grad(), self.autocast():
            fake = g(z)
        with self.autocast():
            real_logits, fake_logits = d(real), d(fake)
        d_loss = F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean()
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        # Generator through the frozen D: only input gradients in D, as in ganzoo.
        d.requires_grad_(False)
        z = torch.randn(n, self.latent_dim)
        with self.autocast():
            logits = d(g(z))
        g_loss = F.softplus(-logits.float()).mean()
        self.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_opt.step()
        d.requires_grad_(True)
        return d_loss.detach(), g_loss.detach()

    def block(self, real, steps):
        """``steps`` training steps on ``real``; returns when they are done (CPU ops are
        synchronous; the loss is read anyway)."""
        out = None
        for _ in range(steps):
            out = self.step(real)
        return float(out[0])

"Contract tests of `fastdiffusion.unet.UNet` and `fastdiffusion.crappify` that later modules rely on, from plain Python."
import tempfile
import pytest, torch
from fastdiffusion.unet import UNet
from fastdiffusion.crappify import Noise, Blur, Compose, ConvDenoiser, denoise_from_noise
from fastdiffusion.checkpoint import save_checkpoint, load_checkpoint
from fastdiffusion.core import make_generator

torch.set_num_threads(1)
SMALL = dict(nfs=(16,32,64), n_blocks=1, attn_levels=(2,), head_dim=16)

@pytest.mark.parametrize('t', [torch.rand(2), torch.randint(0, 1000, (2,)).float(), torch.randn(2).div(4), 0.5])
def test_unet_noise_level_ranges(t):
    "DDPM timesteps, t in [0,1], EDM c_noise and a plain number all work and give an output of the input's shape."
    m = UNet(**SMALL)
    out = m(torch.randn(2,1,28,28), t)
    assert out.shape == (2,1,28,28) and out.isfinite().all()

def test_unet_sizes_and_errors():
    m = UNet(in_ch=3, out_ch=3, **SMALL)
    for hw in [(28,28), (32,32), (16,24)]: assert m(torch.randn(1,3,*hw), torch.rand(1)).shape == (1,3,*hw)
    with pytest.raises(ValueError, match='divisible by 4'): m(torch.randn(1,3,30,30), torch.rand(1))
    with pytest.raises(ValueError, match='`t` must have shape'): m(torch.randn(2,3,28,28), torch.rand(3))
    with pytest.raises(ValueError, match='attn_levels'): UNet(nfs=(16,32), attn_levels=(2,))

def test_unet_checkpoint_roundtrip():
    m = UNet(n_classes=10, **SMALL)
    for p in m.parameters(): p.data.normal_(0, 0.02)
    x, t, y = torch.randn(2,1,28,28), torch.rand(2), torch.tensor([3, 7])
    with tempfile.TemporaryDirectory() as d:
        save_checkpoint(m, d)
        m2 = load_checkpoint(d, device='cpu', arch=UNet)
    with torch.no_grad(): assert torch.equal(m.eval()(x, t, y), m2(x, t, y))

def test_crappifiers_seeded_and_sampling():
    x = torch.rand(4,1,28,28)*2 - 1
    tfm = Compose(Blur((0.5,1.5)), Noise((0.,1.)))
    assert torch.equal(tfm(x, make_generator(3)), tfm(x, make_generator(3)))
    out = denoise_from_noise(ConvDenoiser(n_layers=3), (2,1,28,28), n_steps=2, generator=make_generator(0), disable=True)
    assert out.shape == (2,1,28,28) and out.min() >= -1 and out.max() <= 1

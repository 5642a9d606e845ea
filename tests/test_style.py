"Fast checks of `fastdiffusion.style` (the notebook 11b has the full lesson)."
import torch, pytest
from fastdiffusion.core import make_generator
from fastdiffusion.checkpoint import save_checkpoint, load_checkpoint
from fastdiffusion.style import (StyleNet, ChannelBlurTask, gram, style_targets, style_loss, content_loss, style_transfer,
                                 StyleGuided, style_sdedit)

def _imgs(n=2, c=3, s=16, seed=0): return torch.rand(n, c, s, s, generator=make_generator(seed)) * 2 - 1

def test_gram_properties():
    f = torch.randn(2, 5, 6, 7, generator=make_generator(0))
    G = gram(f)
    assert G.shape == (2, 5, 5) and torch.allclose(G, G.transpose(1, 2))
    assert torch.linalg.eigvalsh(G.double()).min() > -1e-6
    p = torch.randperm(42, generator=make_generator(1))
    assert torch.allclose(gram(f.flatten(2)[..., p].reshape(f.shape)), G, atol=1e-6)
    with pytest.raises(ValueError, match='needs feature maps'): gram(f[0])

def test_losses_and_transfer():
    torch.manual_seed(0)
    net, x, s = StyleNet((8, 16)).eval().requires_grad_(False), _imgs(), _imgs(1, s=24, seed=1)
    assert torch.allclose(style_loss(net.features(x), style_targets(x, net.features)), torch.zeros(2), atol=1e-6)
    assert (content_loss(x, x) == 0).all()
    y, losses = style_transfer(x, s, net.features, steps=15, content_layer=1)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1 and losses[-1] < losses[0]
    with pytest.raises(ValueError, match='steps must be >= 1'): style_transfer(x, s, net.features, steps=0)
    with pytest.raises(ValueError, match='same number of channels'): style_transfer(x, s[:, :1], net.features)

def test_style_guided_and_sdedit():
    model = lambda x, sigma: x / (1 + sigma.view(-1, 1, 1, 1)**2)   # the exact denoiser of N(0, I)
    pix, x, sig = (lambda x: [x]), _imgs(), torch.tensor([0.5, 1.])
    A = style_targets(_imgs(1, seed=2), pix)
    assert torch.equal(StyleGuided(model, A, pix, 0.)(x, sig), model(x, sig))
    assert not torch.allclose(StyleGuided(model, A, pix, 5.)(x, sig), model(x, sig))
    y = style_sdedit(model, x, A, pix, scale=1., steps=3)
    assert y.shape == x.shape and torch.isfinite(y).all()
    with pytest.raises(ValueError, match='must be a positive integer'): style_sdedit(model, x, A, pix, steps=0)

def test_pretext_and_checkpoint(tmp_path):
    x = _imgs(8)
    xt, k = ChannelBlurTask(generator=make_generator(0))((x,))
    assert xt.shape == x.shape and k.shape == (8,) and 0 <= k.min() and k.max() < 12
    with pytest.raises(ValueError, match='needs RGB images'): ChannelBlurTask()((x[:, :1],))
    net = StyleNet((8, 16)).eval()
    save_checkpoint(net, tmp_path/'sn')
    net2 = load_checkpoint(tmp_path/'sn', device='cpu', arch='StyleNet')
    for f, g in zip(net.features(x), net2.features(x)): assert torch.allclose(f, g, atol=1e-6)

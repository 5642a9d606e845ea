"Fast checks of `fastdiffusion.img2img` on exact (analytic) denoisers: no training, no data files."
import pytest, torch
from fastdiffusion.core import make_generator
from fastdiffusion.samplers import GaussianDenoiser, GMMDenoiser, sigmas_karras
from fastdiffusion.img2img import strength_sigma, sdedit_sigmas, sdedit, ode_sigmas, encode, decode, ddib

def _data(n=64, d=16, seed=0):
    g = make_generator(seed)
    return (torch.rand(n, 1, 4, 4, generator=g, dtype=torch.float64) * 2 - 1) * torch.linspace(0.2, 1, d, dtype=torch.float64).reshape(1, 1, 4, 4)

def test_strength_mapping():
    assert strength_sigma(0) == pytest.approx(0.002) and strength_sigma(1) == pytest.approx(80.)
    torch.testing.assert_close(sdedit_sigmas(1., 7, device='cpu'), sigmas_karras(7, 0.002, 80., device='cpu'))
    with pytest.raises(ValueError, match=r'must be in \[0, 1\]'): strength_sigma(-0.01)
    with pytest.raises(ValueError, match='positive integer'): sdedit_sigmas(0.5, 0)

def test_sdedit():
    Y = _data(); m, x = GMMDenoiser(Y.float(), s=0.1), _data(8, seed=1).float()
    assert torch.equal(sdedit(m, x, 0.), x)
    a, b = sdedit(m, x, 0.6, steps=6, seed=3), sdedit(m, x, 0.6, steps=6, seed=3)
    assert torch.equal(a, b) and a.shape == x.shape and a.abs().max() <= 1
    d = [(sdedit(m, x, s, steps=6) - x).norm().item() for s in (0.1, 0.4, 1.)]
    assert d[0] < d[1] < d[2]

def test_encode_decode_gaussian():
    g, x = GaussianDenoiser.from_data(_data(256)), _data(8, seed=2)
    e = [((encode(g, x, n) - g.flow(x, 0.002, 80.)).norm() / g.flow(x, 0.002, 80.).norm()).item() for n in (32, 64)]
    assert 3.2 < e[0] / e[1] < 4.8                       # Heun: order 2
    assert (decode(g, encode(g, x, 64), 64) - x).abs().max() < 1e-3
    assert len(ode_sigmas(5)) == 6 and ode_sigmas(5)[0] == 80. and ode_sigmas(5)[-1] > 0
    with pytest.raises(ValueError, match='positive integer'): encode(g, x, 0)

def test_ddib_one_model_is_round_trip():
    g, x = GaussianDenoiser.from_data(_data(256)), _data(4, seed=3)
    torch.testing.assert_close(ddib(g, g, x, 8), decode(g, encode(g, x, 8), 8).clamp(-1, 1))

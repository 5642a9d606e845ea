"Tests of `fastdiffusion.metrics` outside the notebook: numerical edge cases, the cache, and bad input."
import json, numpy as np, pytest, torch
from fastdiffusion.metrics import (trace_sqrt_product, sqrtm_psd, fid, kid, fit_size, get_feature_extractor,
                                   ImageEvaluator, FeatureNet)
from fastdiffusion.checkpoint import load_checkpoint, load_config

def _cov(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.cov(torch.randn(n, d, generator=g, dtype=torch.float64).T)

@pytest.mark.parametrize('n,d', [(3, 128), (20, 128), (129, 128)])
def test_trace_sqrt_rank_deficient(n, d):
    S1, S2 = _cov(n, d, 0), _cov(n, d, 1)
    t = trace_sqrt_product(S1, S2)
    assert t.dtype == torch.float64 and torch.isfinite(t) and t >= 0
    assert torch.allclose(trace_sqrt_product(S1, S1), torch.trace(S1), rtol=1e-9)
    assert abs(trace_sqrt_product(S1, S2) - trace_sqrt_product(S2, S1)) < 1e-8 * t

def test_matches_scipy_well_conditioned():
    scipy = pytest.importorskip('scipy.linalg')
    S1, S2 = _cov(200, 10, 2) + 0.1*torch.eye(10, dtype=torch.float64), _cov(200, 10, 3)
    ref = np.trace(scipy.sqrtm(S1.numpy() @ S2.numpy())).real
    assert abs(trace_sqrt_product(S1, S2).item() - ref) < 1e-8 * abs(ref)
    r = sqrtm_psd(S1)
    assert torch.allclose(r @ r, S1, atol=1e-10)

def test_fid_kid_basic():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 64, generator=g)             # fewer samples than dims
    assert fid(x, x) < 1e-8
    a, b = torch.randn(600, 8, generator=g), torch.randn(600, 8, generator=g)
    k, s = kid(a, b, n_subsets=20, subset_size=300)
    assert abs(k) < 3*s
    k2, s2 = kid(a, b + 0.5, n_subsets=20, subset_size=300)
    assert k2 > 5*s2
    fids = [fid(a, b + m) for m in (0., 0.2, 0.5, 1.)]
    assert fids == sorted(fids)

def test_bad_input():
    with pytest.raises(ValueError, match='Shape mismatch'): fid(torch.randn(5, 3), torch.randn(5, 4))
    with pytest.raises(ValueError, match=r'\(N, D\)'): fid(torch.randn(5), torch.randn(5))
    with pytest.raises(ValueError, match='dimensions differ'): kid(torch.randn(5, 3), torch.randn(5, 4))
    with pytest.raises(ValueError, match=r'\(B,C,H,W\)'): fit_size(torch.zeros(28, 28), 28)
    ev = ImageEvaluator(lambda x: x.flatten(1))
    with pytest.raises(ValueError, match='No reference'): ev.fid(torch.zeros(4, 1, 8, 8))
    with pytest.raises(ValueError, match=r'\[-1,1\]'): ev.fid(torch.full((4, 1, 8, 8), 255.), torch.zeros(4, 1, 8, 8))

def test_fit_size_28_32():
    x = torch.rand(2, 1, 28, 28)*2 - 1
    assert torch.equal(fit_size(fit_size(x, 32), 28), x)
    assert (fit_size(x, 32)[..., 0, :] == -1).all()

def test_cache_round_trip(tmp_path):
    fe1 = get_feature_extractor('mnist5k', cache_dir=tmp_path, epochs=1, n_train=300, device='cpu', verbose=False)
    p = tmp_path/'classifiers'/'mnist5k-28px'
    cfg = json.loads((p/'config.json').read_text())
    assert cfg['arch'] == 'FeatureNet' and cfg['module'] == 'fastdiffusion.metrics' and cfg['n_train'] + cfg['n_valid'] == 300 and 0 <= cfg['valid_acc'] <= 1
    fe2 = get_feature_extractor('mnist5k', cache_dir=tmp_path, device='cpu', verbose=False)
    x = torch.rand(16, 1, 28, 28)*2 - 1
    assert torch.equal(fe1(x), fe2(x))
    assert torch.equal(fe2(fit_size(x, 32)), fe1(x))
    model, cfg2 = load_checkpoint(p, device='cpu', arch=FeatureNet), load_config(p)
    assert cfg2['valid_idx'] == cfg['valid_idx'] and torch.equal(fe1.model.features(x), model.features(x))

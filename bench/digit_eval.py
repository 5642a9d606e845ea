"Evaluation setup shared by the benchmarks that score generated digits."
import torch

def digit_eval(n:int, name:str='real digits'):
    "The course classifier `fe`, an `ImageEvaluator` against 2,500 real digits (half B of a seeded permutation), all of MNIST-5k `x`, `n` real digits of half A, and their row (the floor)."
    from fastdiffusion.core import set_seed, from_uint8
    from fastdiffusion.data import mnist5k_arrays
    from fastdiffusion.metrics import get_feature_extractor, ImageEvaluator
    fe = get_feature_extractor(device='cpu', verbose=False)
    x = from_uint8(torch.from_numpy(mnist5k_arrays()[0])[:, None])
    set_seed(0); perm = torch.randperm(len(x))
    ev = ImageEvaluator(fe, real=x[perm[2500:]], device='cpu')
    real = x[perm[:n]]
    return fe, ev, x, real, dict(name=name, fid=round(ev.fid(real), 3), confident=round(fe.confident(real), 4))

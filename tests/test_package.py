"Packaging and notebook hygiene: what notebooks cannot check about themselves."
import json, re, shutil, subprocess, sys
from pathlib import Path
import pytest

root = Path(__file__).resolve().parent.parent
nbs = sorted(p for p in (root/'nbs').glob('*.ipynb') if not p.name.startswith('_'))
modules = sorted(p.stem for p in (root/'fastdiffusion').glob('*.py') if not p.stem.startswith('_'))

def run_py(code, **kw):
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=kw.pop('cwd', root), timeout=kw.pop('timeout', 300), **kw)

def test_modules_import_without_nbdev():
    "Every module imports in a fresh process where nbdev, execnb and ghapi cannot be imported."
    code = ("import sys\n"
            "for m in ('nbdev','execnb','ghapi'): sys.modules[m] = None\n"
            f"for m in {modules!r}: __import__('fastdiffusion.' + m)\n"
            "print('ok')")
    r = run_py(code, cwd='/')
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().endswith('ok')

def test_every_module_has_its_notebook():
    exported = set()
    for nb in nbs:
        src = '\n'.join(''.join(c['source']) for c in json.loads(nb.read_text())['cells'])
        exported |= set(re.findall(r'^#\|\s*default_exp\s+(\S+)', src, re.M))
    assert set(modules) <= exported, f"modules without a notebook: {set(modules) - exported}"

def test_notebooks_clean_and_in_sync(tmp_path):
    "`nbdev_export` and `nbdev_clean` on a copy change nothing: notebooks are clean and the library matches them."
    if shutil.which('nbdev_export') is None: pytest.skip('nbdev is not installed (dev extra)')
    for p in ('nbs', 'fastdiffusion'): shutil.copytree(root/p, tmp_path/p, ignore=shutil.ignore_patterns('__pycache__', '.ipynb_checkpoints'))
    for p in ('settings.ini', 'setup.py'): shutil.copy(root/p, tmp_path/p)
    (tmp_path/'README.md').write_text('x')
    for cmd in ('nbdev_export', 'nbdev_clean'):
        r = subprocess.run([cmd], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
    changed = [str(p.relative_to(tmp_path)) for d in ('nbs', 'fastdiffusion') for p in (tmp_path/d).rglob('*')
               if p.is_file() and '__pycache__' not in p.parts and (not (root/p.relative_to(tmp_path)).exists()
                   or (root/p.relative_to(tmp_path)).read_bytes() != p.read_bytes())]
    assert not changed, f"run nbdev_export and nbdev_clean, then commit: {changed}"

def test_notebooks_small_and_titled():
    for nb in nbs:
        assert nb.stat().st_size < 1_500_000, f"{nb.name} is {nb.stat().st_size/1e6:.1f} MB"
        cells = json.loads(nb.read_text())['cells']
        assert cells[0]['cell_type'] == 'markdown' and ''.join(cells[0]['source']).startswith('# '), f"{nb.name}: first cell must be an H1 title"

def test_no_hardcoded_cuda_in_library():
    for m in modules:
        src = (root/'fastdiffusion'/f'{m}.py').read_text()
        assert '.cuda()' not in src, f"fastdiffusion/{m}.py calls .cuda(): take a device argument instead"

def test_readme_generated_from_index():
    sys.path.insert(0, str(root/'.ci'))
    from make_readme import make_readme
    assert (root/'README.md').read_text() == make_readme(), "README.md is stale: run `python .ci/make_readme.py`"

def test_ci_runs_the_readme_commands():
    "`.ci/run` runs exactly the README's install and test commands."
    readme, ci = (root/'README.md').read_text(), (root/'.ci'/'run').read_text()
    blocks = re.findall(r'```sh\n(.*?)\n```', readme, re.S)
    install, test = blocks[0].strip(), blocks[1].strip()
    assert install.startswith('pip install') and 'nbdev_test' in test
    ci_lines = [l.strip() for l in ci.splitlines()]
    assert install in ci_lines and test in ci_lines
    assert ci_lines.index(install) < ci_lines.index(test)

"""Deferred imports (stats/deferred.py): formulaic without scipy's sparse solvers, numba's
BLAS check without scipy.linalg's __init__; a module deferred is still whole for whoever
uses it. Each case runs in a fresh interpreter (the test process has imported scipy)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fresh_python import output_lines, run_python


def _run(code: str) -> dict:
    return json.loads(output_lines(code, timeout=120)[-1])


def test_formulaic_designs_do_not_import_scipy_linalg() -> None:
    """A design by formulaic leaves scipy.sparse.linalg and scipy.linalg unloaded; the
    first use of the sparse solvers imports them and gives the real result."""
    got = _run(
        "import json, sys\n"
        "import numpy as np, pandas as pd\n"
        "from frailtrial.stats.formula_engine import model_matrix\n"
        "mm = model_matrix('y ~ a * x', pd.DataFrame({'y': [1., 2, 3, 4], 'a': list('abab'),"
        " 'x': [0., 1, 3, 2]}))\n"
        "before = ['scipy.linalg' in sys.modules,"
        " type(sys.modules['scipy.sparse.linalg']).__name__]\n"
        "import scipy.sparse as sp\n"
        "inv = sp.linalg.inv(sp.csc_matrix(np.array([[2., 0], [1, 4]]))).toarray()\n"
        "from formulaic.transforms.contrasts import TreatmentContrasts\n"
        "coef = TreatmentContrasts().get_coefficient_matrix(list('abc'), sparse=True)\n"
        "print(json.dumps({'before': before, 'columns': list(mm.rhs.columns),"
        " 'inv': inv.tolist(), 'coef': np.asarray(coef.todense()).tolist(),"
        " 'after': type(sys.modules['scipy.sparse.linalg']).__name__,"
        " 'rebound': sp.linalg is sys.modules['scipy.sparse.linalg']}))\n"
    )
    assert got["before"] == [False, "_OnFirstUse"]
    assert got["columns"] == ["Intercept", "a[T.b]", "x", "a[T.b]:x"]
    assert got["inv"] == [[0.5, 0.0], [-0.125, 0.25]]
    assert got["coef"] == [[1.0, 0.0, 0.0], [-1.0, 1.0, 0.0], [-1.0, 0.0, 1.0]]
    assert got["after"] == "module" and got["rebound"]


@pytest.mark.slow
def test_kernels_load_without_scipy_linalg_init() -> None:
    """Fitting an MMRM (numba's BLAS check included) imports scipy.linalg.cython_blas but
    not scipy.linalg's __init__; scipy.linalg and scipy.stats work afterwards, also when
    two threads read the deferred module at once."""
    got = _run(
        "import json, sys, threading\n"
        "from frailtrial.stats.kernel_warmup import run_kernels\n"
        "run_kernels('us')\n"
        "state = [type(sys.modules['scipy.linalg']).__name__,"
        " 'scipy.linalg.cython_blas' in sys.modules, 'scipy.linalg._basic' in sys.modules]\n"
        "import numpy as np, scipy\n"
        "out = []\n"
        "threads = [threading.Thread(target=lambda: out.append(scipy.linalg.det("
        "np.array([[2., 1], [1, 3]])))) for _ in range(2)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "from scipy import stats\n"
        "print(json.dumps({'state': state, 'det': out,"
        " 'real': type(sys.modules['scipy.linalg']).__name__,"
        " 't': float(stats.t.sf(2.0, 10))}))\n"
    )
    assert got["state"] == ["_OnFirstUse", True, False]
    assert got["det"] == pytest.approx([5.0, 5.0], abs=1e-12)
    assert got["real"] == "module"
    assert got["t"] == pytest.approx(0.036695, abs=1e-6)  # R: pt(2, 10, lower = FALSE)


def test_defer_leaves_imported_modules_and_refuses_unknown_ones() -> None:
    got = _run(
        "import json, sys, json.decoder\n"
        "from frailtrial.stats.deferred import defer\n"
        "real = sys.modules['json.decoder']\n"
        "defer('json.decoder')\n"
        "try:\n"
        "    defer('json.no_such_module')\n"
        "    refused = ''\n"
        "except ModuleNotFoundError as exc:\n"
        "    refused = str(exc)\n"
        "print(json.dumps({'same': sys.modules['json.decoder'] is real, 'refused': refused,"
        " 'left': 'json.no_such_module' in sys.modules}))\n"
    )
    assert got == {"same": True, "refused": "no module named 'json.no_such_module'", "left": False}


def test_p_values_without_numpy_f2py_and_testing() -> None:
    """The distributions (scipy.special) load without numpy's f2py and testing; both are
    whole when used afterwards."""
    got = _run(
        "import json, sys\n"
        "from frailtrial.stats.distributions import t_sf\n"
        "p = float(t_sf(2.0, 10))\n"
        "state = [type(sys.modules[m]).__name__ for m in ('numpy.f2py', 'numpy.testing')]\n"
        "import numpy as np\n"
        "np.testing.assert_allclose([p], [0.036695], atol=1e-6)\n"
        "from numpy.f2py import get_include\n"
        "print(json.dumps({'p': p, 'state': state, 'f2py': bool(get_include()),"
        " 'now': [type(sys.modules[m]).__name__ for m in ('numpy.f2py', 'numpy.testing')]}))\n"
    )
    assert got["p"] == pytest.approx(0.036695, abs=1e-6)  # R: pt(2, 10, lower = FALSE)
    assert got["state"] == ["_OnFirstUse", "_OnFirstUse"]
    assert got["f2py"] and got["now"] == ["module", "module"]


@pytest.mark.slow  # scipy's linear algebra in a fresh interpreter: make test
def test_nested_and_concurrent_first_uses() -> None:
    """With both deferred, the real scipy.sparse.linalg (which imports scipy.linalg) loads
    on first use from four threads at once; scanning sys.modules for files (as inspect
    and tracebacks do) loads neither."""
    got = _run(
        "import inspect, json, sys, threading\n"
        "import numpy as np\n"
        "import frailtrial.stats.formula_engine, frailtrial.stats.mmrm_kernels\n"
        "inspect.getmodule(json.dumps)\n"
        "names = ('scipy.sparse.linalg', 'scipy.linalg')\n"
        "scanned = [type(sys.modules[m]).__name__ for m in names]\n"
        "import scipy.sparse as sp\n"
        "out = []\n"
        "def use():\n"
        "    out.append(sp.linalg.spsolve(sp.csc_matrix(np.array([[2., 0], [1, 4]])),"
        " np.array([2., 9])).tolist())\n"
        "threads = [threading.Thread(target=use) for _ in range(4)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(json.dumps({'scanned': scanned, 'out': out,"
        " 'now': [type(sys.modules[m]).__name__ for m in names]}))\n"
    )
    assert got["scanned"] == ["_OnFirstUse", "_OnFirstUse"]
    assert got["out"] == [[1.0, 2.0]] * 4
    assert got["now"] == ["module", "module"]


@pytest.mark.slow  # scipy's linear algebra in a fresh interpreter: make test
def test_submodules_of_deferred_packages_import_after_their_package_and_once() -> None:
    """A submodule of a deferred package, imported or unpickled (scipy.linalg.qr lives in
    scipy.linalg._decomp_qr), runs on its package's __init__, and a submodule that
    __init__ imports is not executed a second time."""
    pickled = run_python("import pickle, scipy.linalg; print(pickle.dumps(scipy.linalg.qr).hex())")
    got = _run(
        "import json, pickle, sys\n"
        "import frailtrial.stats.formula_engine, frailtrial.stats.mmrm_kernels\n"
        "before = type(sys.modules['scipy.linalg']).__name__\n"
        f"qr = pickle.loads(bytes.fromhex('{pickled.stdout.strip()}'))\n"
        "import numpy as np\n"
        "r = qr(np.array([[3., 1], [4, 2]]), mode='r')[0]\n"
        "import scipy.linalg.blas, scipy.linalg\n"
        "from scipy.linalg.lapack import dgesv\n"
        "import scipy.sparse.linalg._eigen as eigen, scipy.sparse.linalg as sl\n"
        "import numpy.f2py.crackfortran\n"
        "print(json.dumps({'before': before, 'r00': float(abs(r[0, 0])),"
        " 'blas': scipy.linalg.blas is sys.modules['scipy.linalg.blas'],"
        " 'eigen': eigen is sys.modules['scipy.sparse.linalg._eigen'],"
        " 'one_class': sl.ArpackError is eigen.arpack.ArpackError,"
        " 'spec': type(eigen.__spec__.loader).__name__}))\n"
    )
    assert got["before"] == "_OnFirstUse"
    assert got["r00"] == pytest.approx(5.0)
    assert got["blas"] and got["eigen"] and got["one_class"]
    assert got["spec"] != "_Existing"  # the module's own spec given back


def test_a_submodule_its_package_imports_runs_once(tmp_path: Path) -> None:
    pkg = tmp_path / "outer" / "inner"
    pkg.mkdir(parents=True)
    (tmp_path / "outer" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text(
        "import builtins\nbuiltins.RUNS.append('inner')\nfrom . import child\n"
    )
    (pkg / "child.py").write_text("import builtins\nbuiltins.RUNS.append('child')\n")
    got = _run(
        "import builtins, json, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "builtins.RUNS = []\n"
        "from frailtrial.stats.deferred import defer\n"
        "defer('outer.inner')\n"
        "import outer.inner.child\n"
        "print(json.dumps({'runs': builtins.RUNS,"
        " 'same': sys.modules['outer.inner'].child is sys.modules['outer.inner.child']}))\n"
    )
    assert got == {"runs": ["inner", "child"], "same": True}


def test_patching_a_deferred_module_patches_the_real_one() -> None:
    """mock.patch on a deferred module's function patches the module code imports it from;
    a submodule imported under the stand-in stays an attribute of the real package."""
    got = _run(
        "import json, sys\n"
        "from unittest import mock\n"
        "from frailtrial.stats.deferred import defer\n"
        "defer('scipy.linalg')\n"
        "import scipy.linalg.cython_blas, scipy.linalg\n"
        "alone = 'scipy.linalg._basic' not in sys.modules\n"
        "with mock.patch('scipy.linalg.qr') as m:\n"
        "    from scipy.linalg import qr\n"
        "    patched = qr is m\n"
        "from scipy.linalg import qr\n"
        "print(json.dumps({'alone': alone, 'patched': patched, 'restored': qr.__module__,"
        " 'child': scipy.linalg.cython_blas is sys.modules['scipy.linalg.cython_blas']}))\n"
    )
    assert got == {
        "alone": True,
        "patched": True,
        "restored": "scipy.linalg._decomp_qr",
        "child": True,
    }


@pytest.mark.slow
def test_many_threads_first_using_deferred_modules(tmp_path: Path) -> None:
    """Four threads reading each of 200 deferred modules at once, switching at every
    bytecode: each module runs once and no thread fails. (A review found an earlier
    version, without the lock around taking out the stand-in, running modules twice in
    such a run: a thread removed the module another one was importing.)"""
    pkg = tmp_path / "many"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for k in range(200):
        body = f"import builtins\nbuiltins.RUNS.append({k})\nfor _ in range(2000): pass\nX = {k}\n"
        (pkg / f"m{k}.py").write_text(body)
    got = _run(
        "import builtins, json, sys, threading\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "builtins.RUNS = []\n"
        "from frailtrial.stats.deferred import defer\n"
        "errors, wrong = [], []\n"
        "sys.setswitchinterval(1e-6)\n"
        "for k in range(200):\n"
        "    defer(f'many.m{k}')\n"
        "    stand_in = sys.modules[f'many.m{k}']\n"
        "    start = threading.Barrier(4)\n"
        "    def read(k=k, stand_in=stand_in, start=start):\n"
        "        start.wait()\n"
        "        try:\n"
        "            if stand_in.X != k:\n"
        "                wrong.append(k)\n"
        "        except Exception as exc:\n"
        "            errors.append(repr(exc))\n"
        "    threads = [threading.Thread(target=read) for _ in range(4)]\n"
        "    [t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(json.dumps({'errors': errors[:3], 'wrong': wrong, 'runs': sorted(builtins.RUNS)}))\n"
    )
    assert got["errors"] == [] and got["wrong"] == []
    assert got["runs"] == list(range(200))

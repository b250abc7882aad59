"""What verify computes from the checked derivations, kept on disk (montecarlo/derived.py): a kept
formula computes the same bytes as the one built from the derivation, and agrees with SymPy's lambdify;
nothing read back is executed; the key changes with every source file,
and a changed key (or --no-cache) rebuilds from derive/; the store is unused while a run-time
activation is registered; a warm one-check verify imports neither SymPy nor the derivations and
writes the same bytes as a cold one."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from montecarlo import derived, theory

ROOT = Path(__file__).resolve().parents[1]
ENTRY = "montecarlo.theory.forward_variance('',)"
#: n Var(w) Var(x) with a factor 3 the derivation does not have: what a stale or corrupt cache would say.
POISON = {
    "formula": {
        "params": ["n", "vw", "vx", "mx"],
        "tree": ["mul", ["num", "3", "1"], ["arg", 0], ["arg", 1], ["arg", 2]],
    }
}


class MemoryStore:
    def __init__(self, data=None, read=True):
        self.data, self.read, self.writes = dict(data or {}), read, 0

    def load(self, key):
        return json.loads(json.dumps(self.data[key])) if self.read and key in self.data else None

    def store(self, key, table):
        self.data[key] = json.loads(json.dumps(table))
        self.writes += 1


@pytest.fixture
def store_off():
    """No store and no memoized theory function before or after the test."""
    derived.use_store(None)
    theory.forward_variance.cache_clear()
    yield
    derived.use_store(None)
    theory.forward_variance.cache_clear()


def _points():
    rng = np.random.default_rng(5)
    return [tuple(rng.uniform(0.5, 700.0, 5)) for _ in range(6)]


@pytest.mark.parametrize(
    "name,args",
    [
        ("product_variance", ("",)),
        ("forward_variance", ("",)),
        ("forward_variance", ("second-moment",)),
        ("backward_variance", ()),
        ("relu_moment", ("gaussian-mean",)),
        ("relu_moment", ("gaussian-variance",)),
        ("scheme_variance_fn", ("he",)),
        ("scheme_variance_fn", ("xavier",)),
        ("uniform_bound_fn", ()),
        ("uniform_variance_fn", ()),
        ("deep_law", ()),
        ("conv_fans", ()),
    ],
)
def test_kept_function_computes_the_same_bytes(name, args, store_off):
    live = getattr(theory, name)(*args)
    frozen = derived._freeze(live)
    assert frozen is not None, f"{name}{args} cannot be kept"
    revived = derived._revive(json.loads(json.dumps(frozen)))
    pairs = list(zip(live, revived, strict=True)) if isinstance(live, tuple) else [(live, revived)]
    for fn, kept in pairs:
        arity = len(fn.names)
        for point in _points():
            point = point[:arity]
            if name == "deep_law":  # the depth is a whole number
                point = (*point[:-1], 7)
            assert np.float64(kept(*point)).tobytes() == np.float64(fn(*point)).tobytes()


@pytest.mark.parametrize(
    "name,args", [("forward_variance", ("",)), ("relu_moment", ("gaussian-variance",)), ("deep_law", ())]
)
def test_a_formula_computes_what_sympys_lambdify_computes(name, args, store_off):
    """The tree interpreter against SymPy's own printer, on the expression the formula was built from."""
    import sympy as sp

    from montecarlo.formula import Formula

    built = {}
    real = Formula.from_sympy

    def spy(cls_args, expr):
        formula = real(cls_args, expr)
        built["lambdified"] = sp.lambdify(cls_args, expr, "numpy")
        return formula

    getattr(theory, name).cache_clear()
    try:
        Formula.from_sympy = staticmethod(spy)
        fn = getattr(theory, name)(*args)
    finally:
        Formula.from_sympy = real
        getattr(theory, name).cache_clear()
    for point in _points():
        point = point[: len(fn.names)]
        if name == "deep_law":
            point = (*point[:-1], 7)
        assert fn(*point) == pytest.approx(built["lambdified"](*point), rel=1e-14)


def test_floats_and_tuples_round_trip_exactly():
    value = (0.1 + 0.2, "PyTorch's calculate_gain", (1 / 3, 2.0**-1074))
    assert derived._revive(json.loads(json.dumps(derived._freeze(value)))) == value


def test_what_a_tree_cannot_hold_is_not_kept_and_nothing_read_back_is_executed(tmp_path):
    import sympy as sp

    from montecarlo.formula import Formula, FormulaError

    t = sp.Symbol("t")
    with pytest.raises(FormulaError):
        Formula.from_sympy((t,), sp.Function("mystery")(t))
    assert derived._freeze(sp.lambdify(t, sp.erf(t), "numpy")) is None  # compiled code: never kept
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w').write('x')"
    for entry in (
        {"numpy": f"def f():\n    {code}\n    return 1\n", "name": "f", "globals": []},  # the old form
        {"formula": {"params": ["x"], "tree": ["__import__", ["arg", 0]]}},
        {"formula": {"params": ["x"], "tree": ["arg", 3]}},
        {"formula": {"params": ["x"], "tree": ["num", "1", "0"]}},
        {"formula": {"params": ["x"], "tree": ["float", code]}},
        {"formula": {"params": ["x"], "tree": ["add", ["arg", 0]]}},
    ):
        value = derived._revive(entry)
        if value is not None:
            value(1.0)
        assert value is None
    assert not marker.exists()


def _copy_sources(tmp_path):
    roots = []
    for package in ("derive", "montecarlo"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
        roots.append(tmp_path / package)
    return tuple(roots)


@pytest.mark.parametrize(
    "path", ["derive/catalog/moments.py", "derive/core.py", "derive/activations.py", "montecarlo/theory.py"]
)
def test_key_changes_with_every_source_file(tmp_path, path):
    roots = _copy_sources(tmp_path)
    key = derived.source_key(roots)
    assert key == derived.source_key(roots)
    target = tmp_path / path
    original = target.read_bytes()
    target.write_bytes(original + b"\n")
    assert derived.source_key(roots) != key
    target.write_bytes(original)
    assert derived.source_key(roots) == key
    (tmp_path / "derive" / "catalog" / "new_module.py").write_text("X = 1\n")
    assert derived.source_key(roots) != key


def test_the_key_is_what_guards_a_kept_value_and_a_new_key_rebuilds(store_off, monkeypatch):
    """A kept entry under the current key is used as is (so the key must cover every source, see above);
    under any other key the value is computed again from derive/'s derivation and kept under the new key."""
    key = derived.source_key()
    store = MemoryStore({key: {ENTRY: POISON}})
    derived.use_store(store)
    assert theory.forward_variance("")(10, 2.0, 3.0, 0.0) == 3 * 60.0

    asked = []
    real_get = theory._get
    monkeypatch.setattr(theory, "_get", lambda ident: asked.append(ident) or real_get(ident))
    monkeypatch.setattr(derived, "source_key", lambda roots=None: "edited-sources")
    theory.forward_variance.cache_clear()
    derived.use_store(store)
    assert theory.forward_variance("")(10, 2.0, 3.0, 0.0) == 60.0
    assert asked == ["forward-variance"]
    assert derived._revive(store.data["edited-sources"][ENTRY])(10, 2.0, 3.0, 0.0) == 60.0
    assert store.data[key][ENTRY] == POISON  # the other key's file is left alone


def test_no_cache_ignores_what_is_kept_and_keeps_the_rebuilt_value(store_off):
    key = derived.source_key()
    store = MemoryStore({key: {ENTRY: POISON}}, read=False)  # what --no-cache builds
    derived.use_store(store)
    assert theory.forward_variance("")(10, 2.0, 3.0, 0.0) == 60.0
    assert derived._revive(store.data[key][ENTRY])(10, 2.0, 3.0, 0.0) == 60.0


def test_store_unused_while_a_run_time_activation_is_registered(store_off):
    import sympy as sp

    from derive.activations import Activation, register, unregister

    derived.use_store(MemoryStore())
    assert derived._table() is not None
    register(Activation("cache-test-cube", sp.Symbol("t", real=True) ** 3, title="cube"))
    try:
        assert derived.registered_activations() != "built-in"
        assert derived._table() is None
    finally:
        unregister("cache-test-cube")
    assert derived._table() is not None


CHECK = "forward-variance/normal/n512"
RUN = (
    "import sys; from initvar.cli import main; code = main(sys.argv[2:], derived_cache=sys.argv[1] == 'keep'); "
    "print(sorted(m for m in ('sympy', 'derive.registry', 'scipy.stats') if m in sys.modules)); sys.exit(code)"
)


def _verify(env, out, mode="keep", *extra):
    argv = ["verify", "--only", CHECK, "--samples", "1000", "--jobs", "1", "--out", str(out), *extra]
    proc = subprocess.run([sys.executable, "-c", RUN, mode, *argv], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1], (out / "results.json").read_bytes()


def test_warm_verify_imports_no_sympy_and_writes_the_same_bytes(tmp_path):
    from initvar.cache import CheckIndex
    from montecarlo import verify

    cache = tmp_path / "cache"
    env = dict(os.environ, INITVAR_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
    old = os.environ.get("INITVAR_CACHE_DIR")
    os.environ["INITVAR_CACHE_DIR"] = str(cache)
    try:  # a warm index of check ids, so that the runs below build only the check's own group
        assert [c.id for c in verify.select(CHECK, index=CheckIndex())] == [CHECK]
    finally:
        if old is None:
            del os.environ["INITVAR_CACHE_DIR"]
        else:
            os.environ["INITVAR_CACHE_DIR"] = old

    loaded, in_process = _verify(env, tmp_path / "a", mode="in-process")
    assert not list(cache.glob("derived-*.json")), "an in-process main() kept derived values unasked"
    assert "derive.registry" in loaded
    loaded, cold = _verify(env, tmp_path / "b")
    assert "derive.registry" in loaded and len(list(cache.glob("derived-*.json"))) == 1
    loaded, warm = _verify(env, tmp_path / "c")
    assert loaded == "[]", f"a warm one-check verify loaded {loaded}"
    assert in_process == cold == warm


def test_installed_versions_read_from_dist_info_names_agree_with_importlib_metadata():
    import importlib.metadata as md

    for name in ("initvar", "numpy", "scipy", "sympy", "mpmath", "matplotlib"):
        assert derived.installed_version(name) == md.version(name)
    assert derived.installed_version("no-such-distribution-anywhere") is None

"""Wrong schemes must fail verify: the deep checks take their theory from what a scheme claims
(keep the forward or the backward second moment, or Glorot and Bengio's compromise), not from the
scheme's own variance. Each mutation below is a bug that slipped past derive/ (patched in after
the derivations were built): ``initvar verify`` on the scheme's check must exit 1."""

import pytest

from derive.expr import a, n_in, n_out

WRONG = {
    "he fan-in swapped for fan-out": ("he", "deep/he-relu", 2 / n_out),
    "he's ReLU factor dropped": ("he", "deep/he-relu", 1 / n_in),
    "leaky-he with the ReLU factor": ("leaky-he", "deep/leaky-he", 2 / n_in + 0 * a),
    "lecun with fan-out": ("lecun", "deep/lecun-linear", 1 / n_out),
    "xavier's sum without the 1/2": ("xavier", "deep/xavier-linear-forward", 1 / (n_in + n_out)),
    "he fan-out variant with fan-in": ("he-fan-out", "deep/he-fan-out-backward", 2 / n_in),
}


@pytest.fixture
def clean_caches():
    from montecarlo import theory, verify

    def clear():
        theory.scheme_variance_fn.cache_clear()
        verify._REGISTRY = None  # checks capture derived values when built

    clear()
    yield
    clear()


def _verify(check_id, tmp_path):
    from initvar.cli import main

    return main(["verify", "--only", check_id, "--jobs", "1", "--samples", "400000", "--out", str(tmp_path)])


@pytest.mark.parametrize("name", list(WRONG))
def test_mutation_wrong_scheme_fails_verify(name, monkeypatch, tmp_path, clean_caches, capsys):
    import derive.laws
    from montecarlo import theory

    key, check_id, wrong = WRONG[name]
    real = derive.laws.variance

    def patched(k):
        return wrong if k == key else real(k)

    monkeypatch.setattr(theory, "_scheme_variance", patched)
    assert _verify(check_id, tmp_path) == 1, capsys.readouterr().out


def test_mutation_suite_control_unmutated_schemes_pass(tmp_path, clean_caches):
    """The same runs without a mutation pass: the failures above come from the mutations."""
    for check_id in sorted({c for _, c, _ in WRONG.values()}):
        assert _verify(check_id, tmp_path) == 0, check_id


def test_mutation_refused_by_initvar_derive_is_one_line(tmp_path):
    """A derivation that does not check: `initvar derive` prints one line naming the step, exits 1, writes nothing."""
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """
        import sys
        import sympy as sp
        import derive.catalog.propagation as p
        from derive.expr import n, Var, w, E, x
        real = p.forward_variance
        def broken(refs):
            d = real(refs)
            import dataclasses
            chain = d.chain("second-moment")
            steps = list(chain.steps)
            steps[-1] = dataclasses.replace(steps[-1], expr=(n - 1) * Var(w) * E(x**2))
            new = dataclasses.replace(chain, steps=tuple(steps))
            return dataclasses.replace(d, chains=tuple(new if c is chain else c for c in d.chains))
        import derive.registry
        registry = sys.modules["derive.registry"]  # (derive.registry is also the name of a function)
        registry._ENTRIES["forward-variance"] = (broken, registry._ENTRIES["forward-variance"][1])
        from initvar.cli import main
        sys.exit(main(["derive", "--out", sys.argv[1]]))
        """
    )
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", script, str(out)], capture_output=True, text=True, env={**os.environ}, timeout=120
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "forward-variance" in lines[0] and "step 3 (result)" in lines[0], lines[0]
    assert not out.exists()

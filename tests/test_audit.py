"""initvar audit: the real initializers of PyTorch, JAX/Flax and Keras against the derived laws.

Each fact is asserted from sampled tensors (or simulated networks) through the 99.9% Student-t interval
of independent replications (the estimator's own standard error times its t quantile), with fixed seeds,
and with a negative control that the same interval must reject. A missing framework skips its tests,
except when INITVAR_REQUIRE_FRAMEWORKS=1 (CI), where it fails them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SEED = 20101
REQUIRE = os.environ.get("INITVAR_REQUIRE_FRAMEWORKS") == "1"


def framework(name: str):
    """Import framework ``name`` the way the audit does (Keras on the JAX or NumPy backend); skip when it is
    missing, or fail when INITVAR_REQUIRE_FRAMEWORKS=1."""
    from montecarlo.audit import frameworks

    module = {"torch": "torch", "jax": "jax", "flax": "flax", "keras": "keras"}[name]
    if name == "keras" and "keras" not in sys.modules and frameworks.installed("keras"):
        frameworks.load("keras")  # sets KERAS_BACKEND before Keras is first imported
    if REQUIRE and not frameworks.installed(name):
        pytest.fail(f"{name} is not installed but INITVAR_REQUIRE_FRAMEWORKS=1 ({frameworks.install_hint([name])})")
    pytest.importorskip(module)
    return frameworks.load(name)


def case(ident: str):
    from montecarlo.audit.catalog import catalog

    (found,) = [c for c in catalog([ident.split("/")[0]]) if c.id == ident]
    return found


def measured(ident: str, replications: int = 32):
    from montecarlo.audit.analysis import evaluate_case

    return evaluate_case(case(ident), SEED, replications)


def inside(estimate, value, scale: float = 1.0) -> bool:
    """``value`` lies in ``scale`` times the estimate's 99.9% interval."""
    return scale * estimate.ci_low <= value <= scale * estimate.ci_high


# -- PyTorch ---------------------------------------------------------------------------------------------


def test_torch_linear_default_has_var_fan_in_one_third():
    framework("torch")
    r = measured("torch/nn.Linear")
    n = r.case.fan_in
    assert r.case.documented * n == pytest.approx(1 / 3, rel=1e-12)  # derive's uniform-bound law on the docs
    assert inside(r.variance, 1 / 3, n), (r.variance.ci_low * n, r.variance.ci_high * n)
    assert not inside(r.variance, 1.0, n)  # negative control: the default is not LeCun's 1/fan_in
    assert inside(r.mean, 0.0)


def test_torch_linear_default_shrinks_a_relu_layer_by_one_sixth():
    framework("torch")
    from montecarlo.audit.analysis import _holdings

    r = measured("torch/nn.Linear")
    _holdings([r])
    relu = next(h for h in r.holdings if h.activation == "relu" and h.direction == "forward")
    assert relu.moment == pytest.approx(0.5, rel=1e-15)  # c_phi, derived
    low, high = relu.factor[1], relu.factor[2]
    assert low <= 1 / 6 <= high, (low, high)
    assert not low <= 1 <= high and not low <= 1 / 3 <= high  # controls: preserving; the ReLU halving dropped
    assert relu.depth[10][0] == pytest.approx(relu.factor[0] ** 10)


def test_torch_sequential_of_default_linear_layers_confirms_one_sixth_per_layer():
    framework("torch")
    from montecarlo.audit.analysis import evaluate_network
    from montecarlo.audit.networks import networks

    net = next(n for n in networks(["torch"]) if n.id == "torch/ReLU")
    result = evaluate_network(net, SEED)
    assert result.predicted_factor == pytest.approx(1 / 6, rel=1e-12)
    assert inside(result.factor, 1 / 6), result.factor
    assert not inside(result.factor, 1.0) and not inside(result.factor, 1 / 3)
    assert inside(result.simulated[9], result.predicted[9])  # E[z_10^2] = (1/6)^10, exactly in expectation


def test_torch_kaiming_normal_fan_in_has_var_fan_in_two():
    framework("torch")
    r = measured("torch/kaiming_normal_(mode='fan_in', nonlinearity='relu')")
    n = r.case.fan_in
    assert inside(r.variance, 2.0, n)
    assert not inside(r.variance, 1.0, n)  # control: gain dropped
    assert not inside(r.variance, 2.0 * n / r.case.fan_out, n)  # control: fan_out where fan_in belongs


def test_torch_trunc_normal_does_not_correct_the_variance():
    framework("torch")
    from derive.constants import truncated_normal_std

    t2 = float(truncated_normal_std(2))
    assert t2**2 == pytest.approx(0.7737, abs=1e-4)
    r = measured("torch/trunc_normal_(std=1)")
    assert inside(r.variance, t2**2)
    assert not inside(r.variance, 1.0)  # control: std=1 read as variance 1 (the corrected law)
    assert r.max_abs <= 2.0  # a, b are absolute bounds


def test_torch_grouped_conv_fan_out_ignores_groups():
    framework("torch")
    r = measured("torch/kaiming_normal_(conv, mode='fan_out')")
    c_out_k = r.case.shape[0] * r.case.shape[2] * r.case.shape[3]
    assert inside(r.variance, 2.0 / c_out_k)
    assert not inside(r.variance, 2.0 / r.case.fan_out)  # the derived (c_out/g) k


# -- Keras ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
def test_keras_variance_scaling_truncated_normal_has_var_scale_over_fan(mode):
    framework("keras")
    from derive.constants import truncated_normal_std

    r = measured(f"keras/VarianceScaling({mode}, truncated_normal)")
    fan = {"fan_in": r.case.fan_in, "fan_out": r.case.fan_out, "fan_avg": (r.case.fan_in + r.case.fan_out) / 2}[mode]
    scale = 2.0
    assert inside(r.variance, scale / fan)
    t2 = float(truncated_normal_std(2))
    assert not inside(r.variance, t2**2 * scale / fan)  # control: the truncation left uncorrected
    assert r.max_abs <= 2 * (scale / fan) ** 0.5 / t2 * (1 + 1e-6)


def test_keras_dense_default_is_glorot_uniform():
    framework("keras")
    r = measured("keras/layers.Dense")
    assert inside(r.variance, 2 / (r.case.fan_in + r.case.fan_out))
    assert not inside(r.variance, 6 / (r.case.fan_in + r.case.fan_out))  # control: limit^2 for the variance


# -- JAX and Flax ------------------------------------------------------------------------------------------


def test_flax_dense_default_is_lecun_normal():
    framework("flax")
    from derive.constants import truncated_normal_std
    from montecarlo.audit.analysis import finish

    r = measured("flax/nn.Dense")
    n = r.case.fan_in
    t2 = float(truncated_normal_std(2))
    assert r.case.documented * n == pytest.approx(1.0, rel=1e-12)  # lecun_normal, as documented
    assert inside(r.variance, 1.0, n)
    assert not inside(r.variance, t2**2, n)  # control: the truncation left uncorrected
    # truncated at 2 std of the untruncated normal, 2/t(2) = 2.2737 after the correction; a plain normal with
    # 32 x 32768 draws exceeds that about 24,000 times
    bound = 2 / t2
    assert bound * 0.97 < r.max_abs * n**0.5 <= bound * (1 + 1e-6)
    finish([r], [])
    assert r.kind == "does-not-preserve" and "relu (x0.5 per layer)" in r.verdict


def test_flax_network_of_default_dense_layers_halves_a_relu_network():
    framework("flax")
    from montecarlo.audit.analysis import evaluate_network
    from montecarlo.audit.networks import networks

    net = next(n for n in networks(["flax"]) if n.id == "flax/relu")
    result = evaluate_network(net, SEED)
    assert inside(result.factor, 0.5), result.factor
    assert not inside(result.factor, 1.0)


def test_jax_truncated_normal_contradicts_its_returns_section():
    framework("jax")
    from derive.constants import truncated_normal_std
    from montecarlo.audit.analysis import finish

    r = measured("jax/truncated_normal(stddev=1)")
    finish([r], [])
    args, returns = r.claims
    assert inside(r.variance, float(truncated_normal_std(2)) ** 2) and not args.rejected
    assert returns.rejected and r.kind == "differs"


# -- verdicts, documentation, outputs -----------------------------------------------------------------------


def test_verdicts_of_representative_cases():
    framework("torch")
    from montecarlo.audit.analysis import finish

    results = [measured(i) for i in ("torch/nn.Linear", "torch/kaiming_uniform_(nonlinearity='relu')")]
    finish(results, [])
    linear, kaiming = results
    assert linear.kind == "does-not-preserve" and "relu (x0.1667 per layer)" in linear.verdict
    assert "tanh (x0.1314 per layer at q = 1)" in linear.verdict
    assert kaiming.kind == "matches" and kaiming.verdict == "matches its documented law"
    assert linear.control.rejected and kaiming.control.rejected


@pytest.mark.parametrize("name", ["torch", "jax", "flax", "keras"])
def test_every_documented_claim_is_quoted_from_the_installed_documentation(name):
    framework(name)
    from montecarlo.audit.catalog import catalog

    for c in catalog([name]):
        for claim in c.claims:
            assert claim.quotes_found() is True, (c.id, claim.source, claim.quotes)


def test_missing_frameworks_are_bad_usage_naming_the_extra(tmp_path, monkeypatch, capsys):
    from initvar.cli import main
    from montecarlo.audit import frameworks

    monkeypatch.setattr(frameworks, "_find", lambda module: None)
    out = tmp_path / "out"
    for argv, extra in (
        (["audit", "--out", str(out)], "initvar[frameworks]"),
        (["audit", "--framework", "torch", "--out", str(out)], "pip install 'initvar[torch]'"),
        (["audit", "--framework", "keras", "--out", str(out)], "pip install 'initvar[keras]'"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and extra in err[0] and "Traceback" not in err[0], err
    assert not out.exists()  # nothing written


def test_framework_helper_fails_instead_of_skipping_when_required(monkeypatch):
    from montecarlo.audit import frameworks

    monkeypatch.setattr(frameworks, "_find", lambda module: None)
    monkeypatch.setattr(sys.modules[__name__], "REQUIRE", True)
    with pytest.raises(BaseException) as info:  # a skip would be an exception too: it must be a failure
        framework("torch")
    assert info.type is pytest.fail.Exception


def test_importing_derive_and_montecarlo_needs_no_framework():
    code = (
        "import sys, derive, montecarlo, montecarlo.verify, montecarlo.checks; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'jax', 'flax', 'keras') "
        "or m == 'montecarlo.audit'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert out.strip() == "[]", out


def test_report_section_is_none_without_an_audit(tmp_path):
    from montecarlo.audit import report_section

    assert report_section(tmp_path) is None


def test_audit_of_every_framework_writes_its_outputs(tmp_path):
    """(Its time, a target of a minute, is measured by benchmarks/run.py --audit, not asserted here.)"""
    for name in ("torch", "jax", "flax", "keras"):
        framework(name)
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "initvar.cli", "audit", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    payload = json.loads((out / "audit.json").read_text())
    assert payload["passed"] and sorted(payload["frameworks"]) == ["flax", "jax", "keras", "torch"]
    for dist in ("torch", "jax", "jaxlib", "flax", "keras"):
        assert payload["versions"][dist] not in ("", "not installed"), payload["versions"]
    kinds = {c["id"]: c["verdict"]["kind"] for c in payload["cases"]}
    assert kinds["torch/nn.Linear"] == "does-not-preserve"
    assert kinds["jax/truncated_normal(stddev=1)"] == "differs"
    assert kinds["keras/HeNormal"] == "matches"
    assert all(c["control"]["rejected"] for c in payload["cases"])
    tex = (out / "audit.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and "torch/" in tex
    for ext in ("pdf", "png"):
        assert (out / "figures" / f"audit_depth.{ext}").stat().st_size > 1000
    assert "torch/nn.Linear" in done.stdout and "0.1667" in done.stdout
    from montecarlo.audit import report_section

    section = report_section(out)
    assert section.startswith(r"\section{What frameworks really do}") and r"\input{audit}" in section

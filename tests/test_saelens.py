"""SAELens interop: our SAEs exported and read back by SAELens' own loader, SAELens SAEs imported as our runs."""

import json

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from superposition.cli import app
from superposition.config import SAERunConfig, SAESourceConfig
from superposition.config.sae import SAEConfig
from superposition.data.sphere import SphereFeatures
from superposition.errors import ConfigError, OutputError
from superposition.models import SparseAutoencoder
from superposition.runs import Run, load_run, save_run
from superposition.families.saelens import export_saelens, import_saelens

runner = CliRunner()
D_IN, D_SAE, K, N = 8, 24, 4, 1000
CASES = [("relu", False), ("relu", True), ("topk", False), ("topk", True)]


def gen(seed):
    return torch.Generator().manual_seed(seed)


def make_run(path, activation, tied, n_instances=2, seed=0):
    """An SAE run built through our own classes from random weights: random biases (so that subtracting b_dec
    and adding b_enc both matter), an encoder that is not the decoder's transpose when untied."""
    g = gen(seed)
    l1 = [0.1 * (i + 1) for i in range(n_instances)] if activation == "relu" else None
    if activation == "topk":
        n_instances = 1
    model_config = SAEConfig(d_sae=D_SAE, activation=activation, k=K if activation == "topk" else None, tied=tied,
                             l1=l1)
    config = SAERunConfig(source=SAESourceConfig(kind="sphere", d=D_IN, n_features=12, n_active=2),
                          model=model_config)
    W_enc = torch.randn(n_instances, D_IN, D_SAE, generator=g) / D_IN**0.5  # columns of about unit norm
    W_dec = None if tied else torch.randn(n_instances, D_SAE, D_IN, generator=g)
    model = SparseAutoencoder.from_weights(W_enc, torch.randn(n_instances, D_SAE, generator=g) * 0.5,
                                           torch.randn(n_instances, D_IN, generator=g), W_dec, config=model_config)
    history = pd.DataFrame({"step": [10] * n_instances, "instance": list(range(n_instances)),
                            "loss": [1.0] * n_instances})
    truth = {"true_features": SphereFeatures(D_IN, 12, 2, seed=0).true_features}
    save_run(Run(config=config, model=model, history=history, truth=truth), path)
    return load_run(path, device="cpu")


@pytest.fixture(scope="module")
def sae_lens():
    return pytest.importorskip("sae_lens")


def load_with_saelens(sae_lens, path):
    """SAELens' own loader (SAE.load_from_disk), which picks the class from cfg.json's architecture."""
    return sae_lens.SAE.load_from_disk(str(path), device="cpu")


@pytest.mark.parametrize("activation, tied", CASES)
def test_saelens_own_loader_reproduces_our_encode_and_decode(tmp_path, sae_lens, activation, tied):
    run = make_run(tmp_path / "run", activation, tied)
    n = run.config.model.n_instances
    written = export_saelens(tmp_path / "run", tmp_path / "out")
    assert written == ([tmp_path / "out"] if n == 1 else [tmp_path / "out" / f"instance-{k}" for k in range(n)])
    x = torch.randn(N, D_IN, generator=gen(1)) + 0.5
    f_ours, x_hat_ours = run.model.encode(x[None]).detach(), run.model(x[None]).detach()
    for k, path in enumerate(written):
        sae = load_with_saelens(sae_lens, path)
        assert sae.cfg.architecture() == ("topk" if activation == "topk" else "standard")
        assert sae.cfg.apply_b_dec_to_input is True and sae.cfg.normalize_activations == "none"
        if activation == "topk":
            assert sae.cfg.k == K
        if tied:
            assert torch.equal(sae.W_dec, sae.W_enc.T)
        with torch.no_grad():
            f = sae.encode(x)
            assert (f != 0).sum(-1).max() <= (K if activation == "topk" else D_SAE)
            assert (f - f_ours[k]).abs().max() <= 1e-5
            assert (sae.decode(f_ours[k]) - run.model.decode(f_ours[k][None].expand(n, -1, -1))[k]).abs().max() <= 1e-5
            assert (sae(x) - x_hat_ours[k]).abs().max() <= 1e-5
        assert (f > 0).any() and (f == 0).any(), "both sides of the ReLU are exercised"


@pytest.mark.parametrize("activation, tied", CASES)
def test_export_then_import_gives_identical_weights(tmp_path, activation, tied):
    run = make_run(tmp_path / "run", activation, tied)
    original = load_file(str(tmp_path / "run" / "weights.safetensors"))
    export_saelens(tmp_path / "run", tmp_path / "out")
    n = run.config.model.n_instances
    for k in range(n):
        src = tmp_path / "out" / (f"instance-{k}" if n > 1 else "")
        back, _ = import_saelens(src, tmp_path / f"back{k}")
        stored = load_file(str(tmp_path / f"back{k}" / "weights.safetensors"))
        assert set(stored) == set(original)
        assert all(torch.equal(stored[name][0], original[name][k]) for name in original)
        m = back.config.model
        assert (m.activation, m.k, m.tied, m.d_sae) == (activation, run.config.model.k, tied, D_SAE)
        assert m.l1 == (run.config.model.l1[k] if activation == "relu" else None)
        assert back.config.source == run.config.source, "the source recorded at export comes back"
        assert torch.equal(back.truth["true_features"], run.truth["true_features"])


def test_an_imported_run_opens_in_sae_analyze(tmp_path):
    make_run(tmp_path / "run", "topk", False)
    assert runner.invoke(app, ["sae", "export", str(tmp_path / "run"), "--format", "saelens", "--out",
                               str(tmp_path / "out")]).exit_code == 0
    r = runner.invoke(app, ["sae", "import", str(tmp_path / "out"), "--out", str(tmp_path / "back"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["activation"] == "topk"
    r = runner.invoke(app, ["sae", "analyze", str(tmp_path / "back"), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["instances"][0]["l0"] <= K


def test_a_foreign_saelens_directory_imports_with_a_synthetic_source(tmp_path):
    """Written by hand as SAELens writes it (no metadata of ours): standard, b_dec not subtracted from the input,
    decoder rows of any norm. The import folds both into the weights and reconstructs the same."""
    g = gen(3)
    W_enc, W_dec = torch.randn(D_IN, D_SAE, generator=g), torch.randn(D_SAE, D_IN, generator=g) * 3
    b_enc, b_dec = torch.randn(D_SAE, generator=g), torch.randn(D_IN, generator=g)
    src = tmp_path / "foreign"
    src.mkdir()
    (src / "cfg.json").write_text(json.dumps({"architecture": "standard", "d_in": D_IN, "d_sae": D_SAE,
                                              "dtype": "float32", "apply_b_dec_to_input": False,
                                              "metadata": {"sae_lens_version": "6.54.12"}}))
    save_file({"W_enc": W_enc, "W_dec": W_dec, "b_enc": b_enc, "b_dec": b_dec}, str(src / "sae_weights.safetensors"))
    run, notes = import_saelens(src, tmp_path / "run")
    assert run.config.source.kind == "sphere" and run.config.source.d == D_IN and not run.config.model.tied
    assert any("apply_b_dec_to_input" in n for n in notes) and any("not unit norm" in n for n in notes)
    x = torch.randn(N, D_IN, generator=g)
    theirs = torch.relu(x @ W_enc + b_enc) @ W_dec + b_dec
    assert (run.model(x[None])[0] - theirs).abs().max() <= 1e-4
    assert runner.invoke(app, ["sae", "analyze", str(tmp_path / "run")]).exit_code == 0


def test_an_sae_saved_by_saelens_imports_with_the_same_reconstruction(tmp_path, sae_lens):
    """SAELens' own writer (save_model) and initialisation (decoder rows of norm about 0.5, not 1): the import
    folds the row norms into the encoder, so latents scale and reconstructions stay."""
    sae = sae_lens.StandardSAE(sae_lens.StandardSAEConfig(d_in=D_IN, d_sae=D_SAE))
    g = gen(5)
    with torch.no_grad():
        sae.b_enc.copy_(torch.randn(D_SAE, generator=g) * 0.1)
        sae.b_dec.copy_(torch.randn(D_IN, generator=g))
    sae.save_model(tmp_path / "saved")
    run, notes = import_saelens(tmp_path / "saved", tmp_path / "run")
    assert any("not unit norm" in n for n in notes) and run.config.model.activation == "relu"
    x = torch.randn(N, D_IN, generator=g) + 0.5
    with torch.no_grad():
        norms = sae.W_dec.norm(dim=1)
        assert (run.model.encode(x[None])[0] - sae.encode(x) * norms).abs().max() <= 1e-5
        assert (run.model(x[None])[0] - sae(x)).abs().max() <= 1e-5


def test_saelens_topk_with_decoder_norm_rescaling_imports_exactly(tmp_path, sae_lens):
    g = gen(4)
    cfg = {"architecture": "topk", "d_in": D_IN, "d_sae": D_SAE, "k": K, "dtype": "float32",
           "rescale_acts_by_decoder_norm": True, "metadata": {"sae_lens_version": "6.54.12"}}
    src = tmp_path / "topk"
    src.mkdir()
    (src / "cfg.json").write_text(json.dumps(cfg))
    save_file({"W_enc": torch.randn(D_IN, D_SAE, generator=g), "W_dec": torch.rand(D_SAE, D_IN, generator=g) + 0.5,
               "b_enc": torch.randn(D_SAE, generator=g), "b_dec": torch.randn(D_IN, generator=g)},
              str(src / "sae_weights.safetensors"))
    sae = load_with_saelens(sae_lens, src)
    run, _ = import_saelens(src, tmp_path / "run")
    x = torch.randn(N, D_IN, generator=g)
    with torch.no_grad():
        assert torch.equal(sae.encode(x) != 0, run.model.encode(x[None])[0] != 0), "the same k latents are chosen"
        assert (sae(x) - run.model(x[None])[0]).abs().max() <= 1e-4


def write_saelens(path, cfg, d_sae=D_SAE, scale=1.0):
    path.mkdir()
    (path / "cfg.json").write_text(json.dumps(cfg))
    W_dec = torch.nn.functional.normalize(torch.randn(d_sae, D_IN), dim=1) * scale
    save_file({"W_enc": W_dec.T.contiguous(), "W_dec": W_dec, "b_enc": torch.zeros(d_sae), "b_dec": torch.zeros(D_IN)},
              str(path / "sae_weights.safetensors"))


@pytest.mark.parametrize("cfg, scale, message", [
    ({"architecture": "jumprelu"}, 1.0, "SAELens architecture 'jumprelu' is not supported"),
    ({"architecture": "gated"}, 1.0, "SAELens architecture 'gated' is not supported"),
    ({"activation_fn": "tanh-relu"}, 1.0, "SAELens activation 'tanh-relu' is not supported"),
    ({"architecture": "topk", "k": 0}, 1.0, "needs a positive integer k"),
    ({"architecture": "topk", "k": 3}, 2.0, "decoder rows are not unit norm"),
    ({"architecture": "standard", "normalize_activations": "layer_norm"}, 1.0, "normalize_activations"),
    ({"architecture": "standard", "d_in": 99}, 1.0, "cfg.json says d_in = 99"),
])
def test_unsupported_saelens_directories_get_one_line(tmp_path, cfg, scale, message):
    write_saelens(tmp_path / "in", cfg, scale=scale)
    r = runner.invoke(app, ["sae", "import", str(tmp_path / "in"), "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and message in r.output and r.output.strip().count("\n") == 0, r.output
    assert not (tmp_path / "run").exists()


def test_bad_runs_and_outputs_get_one_line_and_touch_nothing(tmp_path):
    toy = tmp_path / "toy"
    assert runner.invoke(app, ["train", "--n-features", "3", "--n-hidden", "2", "--steps", "20", "--batch-size",
                               "16", "--quiet", "--out", str(toy)]).exit_code == 0
    sae = tmp_path / "sae"
    make_run(sae, "relu", False)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    for args, message in [
        ([str(toy)], "is a toy run; `sae export` reads sparse-autoencoder runs"),
        ([str(tmp_path / "nothing")], "run directory not found"),
        ([str(sae), "--format", "npz"], "--format must be one of saelens"),
        ([str(sae), "--instance", "5"], "--instance 5 does not exist"),
    ]:
        r = runner.invoke(app, ["sae", "export", *args, "--out", str(tmp_path / "x")])
        assert r.exit_code == 2 and message in r.output and r.output.strip().count("\n") == 0, r.output
        assert not (tmp_path / "x").exists()
    r = runner.invoke(app, ["sae", "export", str(sae), "--out", str(tmp_path / "mine"), "--overwrite"])
    assert r.exit_code == 2 and "not a SAELens export written by superposition" in r.output
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    r = runner.invoke(app, ["sae", "import", str(tmp_path / "mine"), "--out", str(tmp_path / "y")])
    assert r.exit_code == 2 and "not a SAELens directory: cfg.json is missing" in r.output
    export_saelens(sae, tmp_path / "e")
    with pytest.raises(OutputError, match="already exists; pass --overwrite"):
        export_saelens(sae, tmp_path / "e")
    assert export_saelens(sae, tmp_path / "e", instance=1, overwrite=True) == [tmp_path / "e"]
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["cfg.json", "sae_weights.safetensors"]
    with pytest.raises(ConfigError, match="several exported autoencoders"):
        export_saelens(sae, tmp_path / "f")
        import_saelens(tmp_path / "f", tmp_path / "z")
    with pytest.raises(OutputError, match="refusing to replace"):
        import_saelens(tmp_path / "e", tmp_path / "mine", overwrite=True)

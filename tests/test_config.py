import pytest
import torch

from superposition import ConfigError, make_config
from superposition.config import DataConfig, load_config


def one_line(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize(
    "data, model, needle",
    [
        (dict(feature_probability=[1.5]), {}, "outside [0, 1]"),
        (dict(feature_probability=[-0.1]), {}, "outside [0, 1]"),
        (dict(importance=[1, -1, 1, 1, 1]), {}, "importance must be >= 0"),
        (dict(importance=[1, 1]), {}, "importance has 2 values but n_features is 5"),
        (dict(feature_probability=[[0.1, 0.2]]), {}, "feature_probability[0] has 2 values"),
        (dict(n_features=0), {}, "n_features"),
        ({}, dict(n_hidden=0), "n_hidden"),
        ({}, dict(kind="sigmoid"), "model.kind"),
        (dict(correlated_pairs=2, anticorrelated_pairs=1), {}, "need 6 features, only 5 exist"),
        (dict(anticorrelated_pairs=1, feature_probability=[0.8]), {}, "p <= 0.5"),
        (dict(importance=[1] * 5, importance_decay=0.9), {}, "not both"),
        (dict(colour="red"), {}, "data.colour"),
    ],
)
def test_bad_values_raise_one_line_naming_the_problem(data, model, needle):
    with pytest.raises(ConfigError) as e:
        make_config(data=data, model=model)
    assert needle in one_line(e)


def test_bad_training_values():
    for train, needle in [
        (dict(steps=0), "train.steps"),
        (dict(lr=-1), "train.lr"),
        (dict(optimizer="sgd"), "train.optimizer"),
        (dict(device="tpu"), "device must be"),
        (dict(schedule="warmup_cosine", warmup_steps=10, steps=10), "warmup_steps"),
    ]:
        with pytest.raises(ConfigError) as e:
            make_config(train=train)
        assert needle in one_line(e)


def test_tables_expand_per_instance_and_per_feature():
    cfg = DataConfig(n_features=3, feature_probability=[1.0, [0.1, 0.2, 0.3]], importance_decay=0.5)
    assert cfg.n_instances == 2
    assert torch.allclose(cfg.probability(), torch.tensor([[1.0, 1.0, 1.0], [0.1, 0.2, 0.3]]))
    assert torch.allclose(cfg.importance_table(), torch.tensor([[1.0, 0.5, 0.25]] * 2))
    per_instance = DataConfig(n_features=2, feature_probability=[1, 1], importance=[[1, 2], [3, 4]])
    assert per_instance.importance_table().tolist() == [[1, 2], [3, 4]]


def test_more_hidden_units_than_features_is_allowed():
    cfg = make_config(data=dict(n_features=2), model=dict(n_hidden=8))
    assert cfg.model.n_hidden == 8


def test_weight_decay_defaults_follow_the_optimizer():
    assert make_config(train=dict(optimizer="adamw")).train.resolved_weight_decay == 0.01
    assert make_config(train=dict(optimizer="adam")).train.resolved_weight_decay == 0.0


def test_config_file_round_trip_and_errors(tmp_path):
    cfg = make_config(data=dict(n_features=4, feature_probability=[0.5, 0.1]), train=dict(steps=7))
    path = tmp_path / "c.json"
    path.write_text(cfg.to_json())
    assert load_config(path) == cfg
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config(path)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.json")

"""The `real_model` marker (tests/tiers.py) finds every way a test reaches the real models, and only those."""

from __future__ import annotations

from types import SimpleNamespace

from tests.tiers import reaches_real_model, uses_real_model

MODEL = "minilm-l6"


def load_model(name: str) -> None:  # stand-ins: the sample tests below are read, never run
    raise AssertionError("never called")


engine = SimpleNamespace(load=load_model)


def open_app():
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file("app.py").run()


class Samples:
    """Sample tests, reached only as attributes: the marker must not see the tests below as real-model ones."""

    @staticmethod
    def through_a_helper():
        return open_app()

    @staticmethod
    def by_name():
        return [load_model(n) for n in ["smollm2-135m"]]  # a loop over a literal list: a tuple constant

    @staticmethod
    def by_constant():
        return engine.load(MODEL, "cpu")

    @staticmethod
    def tiny(tmp_path):
        return load_model(str(tmp_path / "tiny-gpt2"))

    @staticmethod
    def name_without_loading():
        return {"model": "minilm-l6"}


def test_code_that_runs_the_app_or_loads_a_real_model_is_found() -> None:
    assert reaches_real_model(Samples.through_a_helper)
    assert reaches_real_model(Samples.by_name)
    assert reaches_real_model(Samples.by_constant)


def test_tiny_models_and_mere_names_are_not_real_models(request) -> None:
    assert not reaches_real_model(Samples.tiny)
    assert not reaches_real_model(Samples.name_without_loading)
    assert "real_model" not in request.node.keywords  # these tests themselves run in the fast tier


def test_real_model_fixtures_mark_a_test_and_so_does_its_code() -> None:
    assert uses_real_model(SimpleNamespace(fixturenames=["fluffy", "smollm"], obj=Samples.tiny))
    assert uses_real_model(SimpleNamespace(fixturenames=["tmp_path"], obj=Samples.by_constant))
    assert not uses_real_model(SimpleNamespace(fixturenames=["tmp_path"], obj=Samples.tiny))

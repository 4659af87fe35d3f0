"""The `real_model` and `ray` markers (tests/tiers.py) find every way a test reaches the real models or starts a
local Ray, and only those."""

from __future__ import annotations

from types import SimpleNamespace

from tests.tiers import reaches_real_model, starts_ray, uses_real_model

MODEL = "minilm-l6"


def load_model(name: str) -> None:  # stand-ins: the sample tests below are read, never run
    raise AssertionError("never called")


engine = SimpleNamespace(load=load_model)
job = SimpleNamespace(run_on_ray=load_model, run_in_process=load_model)


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

    @staticmethod
    def by_fixture_value(request, name):
        return request.getfixturevalue("smollm" if name.startswith("smollm") else "minilm")

    @staticmethod
    def on_ray(items, settings):
        import ray

        try:
            return job.run_on_ray(items, settings, workers=2)
        finally:
            ray.shutdown()

    @staticmethod
    def in_process(items, settings):
        return job.run_in_process(items, settings)


def test_code_that_runs_the_app_or_loads_a_real_model_is_found() -> None:
    assert reaches_real_model(Samples.through_a_helper)
    assert reaches_real_model(Samples.by_name)
    assert reaches_real_model(Samples.by_constant)
    # tests/atlas/test_shipped_atlases.py asks for SmolLM2 or MiniLM by name, and ran in the fast tier
    assert reaches_real_model(Samples.by_fixture_value)


def test_code_that_starts_ray_is_found_and_the_in_process_loop_is_not() -> None:
    # tests/atlas/test_job.py's Ray test lost its marker to a test put between it and its decorator, and its
    # 30-40 s of local Ray ran in the fast tier
    assert starts_ray(Samples.on_ray)
    assert not starts_ray(Samples.in_process)
    assert not reaches_real_model(Samples.on_ray)


def test_tiny_models_and_mere_names_are_not_real_models(request) -> None:
    assert not reaches_real_model(Samples.tiny)
    assert not reaches_real_model(Samples.name_without_loading)
    assert "real_model" not in request.node.keywords  # these tests themselves run in the fast tier


def test_real_model_fixtures_mark_a_test_and_so_does_its_code() -> None:
    assert uses_real_model(SimpleNamespace(fixturenames=["fluffy", "smollm"], obj=Samples.tiny))
    assert uses_real_model(SimpleNamespace(fixturenames=["tmp_path"], obj=Samples.by_constant))
    assert not uses_real_model(SimpleNamespace(fixturenames=["tmp_path"], obj=Samples.tiny))

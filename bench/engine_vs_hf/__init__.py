"""attention_core's trace against Hugging Face transformers on the same GGUF weights (`python bench/engine.py`).

Modules, one job each:
    settings.py   the model, the targets, the worker protocol's marker
    text.py       the timed prose and how it is cut to n tokens
    measure.py    clocks and memory probes (run inside a worker)
    workers.py    one measurement per fresh process, each printing one JSON line
    estimates.py  FLOPs of a forward pass, HF's memory at n tokens, memory available
    runner.py     the parent: the environment, which workers to run, in which order
    report.py     the Markdown report from the results dict
    cli.py        the command line
"""

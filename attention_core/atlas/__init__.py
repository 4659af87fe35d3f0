"""The head atlas: what every head does across a corpus (docs/atlas.md).

statistics.py holds the pure formulas; corpus.py reads corpora; documents.py turns documents into per-head
sums and examples with a loaded model; job.py runs that in-process or on Ray Data and writes the Parquet
tables; `python -m attention_core.atlas` is the command line. Ray is imported only by the Ray path.
"""

"""The corpus layout: clips in sharded ArrayRecord files with an index small enough for
memory, for datasets larger than one machine's memory (docs/scaling.md).

```
<root>/corpus.json                       format, version, joint set, splits and their shards,
                                         the train split's feature sums, index fingerprints
<root>/label_map.json                    {"<blank>": 0, gloss: 1..N}
<root>/<split>/index.npz                 one row per clip (``clips.ClipIndex`` columns, shard,
                                         offset), in the order of the clips' origins
<root>/<split>/manifest.csv              origin, recording, glosses of each row
<root>/<split>/<writer>-<n>.array_record one record per clip (``records.encode_clip``)
```
Write with ``writer.CorpusWriter`` (one process) or ``beam`` (a Beam pipeline); read with
``reader.Corpus``. NumPy, safetensors and array_record only: no JAX, no TensorFlow.
"""

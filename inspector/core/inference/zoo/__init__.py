"""Real models from the model libraries: Hugging Face ``transformers``, ``torchvision``, ``timm``.

- :mod:`~inspector.core.inference.zoo.libraries` — which libraries import, the cache folder,
  ``library:name`` specs (torch-free);
- :mod:`~inspector.core.inference.zoo.hf` — classes named by ``config.json``, configs of
  common families inferred from shapes;
- :mod:`~inspector.core.inference.zoo.task` — what a model takes and gives (input kind,
  preprocessing, labels);
- :mod:`~inspector.core.inference.zoo.build` — building a library model (CPU or meta device);
- :mod:`~inspector.core.inference.zoo.index` — the key/shape signature index and proposals;
- :mod:`~inspector.core.inference.zoo.inputs` — images, sentences, synthetic audio, .npy
  inputs; predictions and embedding similarity;
- :mod:`~inspector.core.inference.zoo.load` — which library model a run uses.

Every library is optional; nothing from a checkpoint's folder runs unless the user trusts it.
"""

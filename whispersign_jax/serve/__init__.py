"""Live sign recognition in the browser: ``python -m whispersign_jax.serve`` serves one static
page that runs MediaPipe's hand landmarker and the exported model with onnxruntime-web
(``server``), with those JavaScript libraries vendored from npm into the cache (``assets``).
Importing this package imports no JAX."""

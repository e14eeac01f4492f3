// Mirrors whispersign_jax/decoding/options.py: the decoders the exported-model runtime runs,
// the clip padding and the hypothesis caps. The constants come from whispersign_web.json
// (bucket_frames, positions_per_gloss, max_frames). Held to the Python by
// tests/serve/test_js_parity.py.

/** RUNTIME_DECODERS: what the page (the exported-model runtime) decodes with. */
export const RUNTIME_DECODERS = ["ctc_greedy", "ctc_prefix_beam", "attention_rescoring"];

/** The length a clip of `numFrames` is padded to: whole buckets, at most max_frames
 * (padded_frames). */
export function paddedFrames(numFrames, settings) {
  const bucket = settings.bucket_frames;
  return Math.min(Math.ceil(numFrames / bucket) * bucket, settings.max_frames);
}

/** The hypothesis cap for `positions` encoder positions (DecodeOptions.glosses_for with the
 * settings' decoder and max_glosses). */
export function glossesFor(settings, positions) {
  if (settings.max_glosses !== null && settings.max_glosses !== undefined) {
    return Math.min(settings.max_glosses, positions);
  }
  if (settings.decoder === "ctc_greedy") return positions;
  return Math.max(1, Math.ceil(positions / settings.positions_per_gloss));
}
